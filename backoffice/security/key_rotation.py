"""What key rotation re-seals beyond the registered encrypted columns, plugged in by features.

``keys.rotate`` and ``keys.key_status`` walk the encrypted columns registered on the models
(``models.crypto``). Other sealed data lives where only its feature knows how to read it: the
sensitive custom values inside JSON documents and change-request payloads (the fields feature,
``backoffice.fields.key_rotation``) and the stored import files (``backoffice.imports.file_keys``).
The key ring is core, so it may not import those features; each registers its pass here in its
``register(appbuilder)``, which ``create_app`` calls for every app, web, worker or CLI.

Passes run in the order they were first registered (``create_app`` registers the fields feature
before the imports feature). A process that rotates keys before any feature registered was not
built by ``create_app``: it gets :class:`NotRegistered` instead of a rotation that silently
leaves data on the old key, which retiring that key would then make unreadable.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backoffice.security.field_hooks import NotRegistered


@dataclass(frozen=True)
class SealedElsewhere:
    """One feature's sealed data.

    ``rotate(engine, keyring, metadata, report, batch_size, progress)`` re-seals it to the
    primary key, adding its counts to ``report.rewritten`` (and races to ``report.raced``);
    ``status(engine, keyring, metadata)`` answers ``{"<where>": {key id: values}}``.
    """

    name: str
    rotate: Callable
    status: Callable


_passes: dict[str, SealedElsewhere] = {}


def register(name: str, rotate: Callable, status: Callable) -> None:
    """Add (or, for an app built again, replace in place) the pass called ``name``."""
    _passes[name] = SealedElsewhere(name, rotate, status)


def passes() -> list[SealedElsewhere]:
    if not _passes:
        raise NotRegistered("no feature registered its sealed data for key rotation: build the "
                            "app with backoffice.create_app (backoffice.fields and "
                            "backoffice.imports register theirs)")
    return list(_passes.values())
