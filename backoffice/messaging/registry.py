"""The channel registry: which channels exist, and a check that each is complete.

A channel is one module in :mod:`backoffice.messaging.channels` that sets ``CHANNEL`` to a
class with:

* ``code`` (the value stored in consent, dispatch and message rows) and ``label`` (translated);
* ``settings``: the ``CRM_*`` names it reads, each declared in ``config/settings.py``;
* ``quiet_hours``: whether it waits out the night (21:00-08:00 local);
* ``reachable()``: SQL on ``Customer``, true when the customer has an address on the channel;
* ``address(facts)``: the address from a dict of the customer's plain values, or
  ``MissingContact``;
* ``__init__(config)``, ``prepare(address, subject, body, message_id)`` returning a
  ``Prepared`` (see :mod:`backoffice.messaging.delivery`) and ``quit()``.

The app factory calls :func:`check`, so a channel missing a part stops start-up with a message
naming the module and the part, instead of failing on the first message at night.
"""
from __future__ import annotations

import importlib
import pkgutil

PACKAGES = ["backoffice.messaging.channels"]  # where channel modules are found
ATTRIBUTES = ("code", "label", "settings", "quiet_hours")
METHODS = ("reachable", "address", "prepare", "quit")


class ChannelError(RuntimeError):
    """A channel module does not follow the contract (raised at start-up)."""


def _modules():
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                yield importlib.import_module(f"{package_name}.{info.name}")


def problems(cls, declared=None) -> list[str]:
    """What ``cls`` lacks of the contract (empty when complete)."""
    found = []
    for name in ATTRIBUTES:
        if getattr(cls, name, None) is None:
            found.append(f"attribute {name!r}")
    for name in METHODS:
        if not callable(getattr(cls, name, None)):
            found.append(f"method {name}()")
    code = getattr(cls, "code", None)
    if code is not None and not (isinstance(code, str) and code.isidentifier()
                                 and len(code) <= 20):
        found.append(f"a code of at most 20 letters, digits or _ (not {code!r})")
    settings = getattr(cls, "settings", None) or ()
    if isinstance(settings, str):
        found.append("attribute 'settings' as a tuple of names, not a string")
        settings = ()
    for name in settings:
        if not str(name).startswith("CRM_"):
            found.append(f"setting {name!r} named CRM_*")
        elif declared is not None and name not in declared:
            found.append(f"setting {name} declared in config/settings.py")
    return found


def _declared() -> set[str]:
    from config.settings import BaseConfig

    return {name for name in dir(BaseConfig) if name.startswith("CRM_")}


def load() -> dict[str, type]:
    """Every channel class by code, checked; raises :class:`ChannelError` on the first gap."""
    declared, found = _declared(), {}
    for module in _modules():
        cls = getattr(module, "CHANNEL", None)
        if cls is None:
            raise ChannelError(f"channel module {module.__name__} sets no CHANNEL class")
        missing = problems(cls, declared)
        if missing:
            raise ChannelError(f"channel {module.__name__}.{cls.__name__} lacks "
                               + ", ".join(missing))
        if cls.code in found:
            raise ChannelError(f"channel code {cls.code!r} is defined twice "
                               f"({found[cls.code].__module__}, {module.__name__})")
        found[cls.code] = cls
    return found


_loaded: dict[tuple, dict[str, type]] = {}


def channels() -> dict[str, type]:
    """The channel classes by code, loaded once per process (per list of packages: a test may
    add one)."""
    key = tuple(PACKAGES)
    if key not in _loaded:
        _loaded[key] = load()
    return dict(_loaded[key])


def get(code: str) -> type | None:
    return channels().get(code)


def labels(codes=None) -> dict:
    """``{code: label}`` of the channels (of ``codes``, in that order, when given): what a
    screen lists or shows, so that every screen names a channel as its module does."""
    found = channels()
    return {code: found[code].label for code in (found if codes is None else codes)
            if code in found}


def open_channels(config, codes=None) -> dict:
    """Instances for a sending run (none connects before its first message)."""
    return {code: cls(config) for code, cls in channels().items()
            if codes is None or code in codes}


def quiet_channels() -> tuple[str, ...]:
    return tuple(code for code, cls in channels().items() if cls.quiet_hours)


def check(app) -> None:
    """Start-up: every channel complete; the codes are kept on the app for screens."""
    found = load()
    _loaded[tuple(PACKAGES)] = found
    app.extensions["crm_channels"] = tuple(found)
