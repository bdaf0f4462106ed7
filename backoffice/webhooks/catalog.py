"""The events an admin can pick for a webhook: those features declared to the outbox.

Shown by their labels; a name no feature declares any more (a delivery of an event renamed
since, or a rule's own name) is shown by what sent it, never by its code.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

OTHER_EVENT = _l("Other event")
RULE_EVENT = _l("Sent by an automation rule")


def declared() -> dict:
    """``{name: label}`` of every declared event."""
    from backoffice import events

    return {name: item.label for name, item in events.declared().items()}


def choices() -> list[tuple[str, str]]:
    """``(name, label)`` pairs for a form, by label."""
    return sorted(((name, str(label)) for name, label in declared().items()),
                  key=lambda pair: pair[1])


def label(name: str, source: str | None = None) -> str:
    found = declared().get(name)
    if found is not None:
        return str(found)
    return str(RULE_EVENT if source == "rule" else OTHER_EVENT)
