"""The events an admin can pick for a webhook: those features declared to the outbox.

Stored by their codes (a webhook's events, a delivery's event, the log rows of a webhook) and
shown by their declared labels in the reader's language when shown; a name no feature declares
any more (a delivery of an event renamed since, or a rule's own name) is shown by what sent it,
never by its code.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask import current_app, has_app_context
from flask_babel import force_locale
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


class LoggedEvents(Mapping):
    """The operation log's words for the events of a webhook's log rows: a code as its label
    in the reader's language. Rows written before the log kept codes hold the label text in
    the language of whoever saved the webhook (and a change as ``old``/``new``): a text that is
    a declared label in one of the app's languages is shown as that event's label in the
    reader's; anything else is left as it is. ``codes=False`` reads label texts only (the
    ``old``/``new`` of those rows also held names and URLs)."""

    def __init__(self, codes: bool = True):
        self.codes = codes

    def _code(self, value) -> str | None:
        if not isinstance(value, str):
            return None
        if self.codes and value in declared():
            return value
        return _code_of_label(value)

    def __getitem__(self, value: str) -> str:
        code = self._code(value)
        if code is None:
            raise KeyError(value)
        return label(code)

    def __contains__(self, value) -> bool:
        return self._code(value) is not None

    def __iter__(self):
        return iter(declared())

    def __len__(self) -> int:
        return len(declared())


def _code_of_label(text: str) -> str | None:
    """The declared event whose label reads ``text`` in one of the app's languages."""
    if not has_app_context():
        return None
    languages = list(current_app.config.get("LANGUAGES") or {}) or ["zh", "en"]
    for language in languages:
        with force_locale(language):
            for name, item in declared().items():
                if str(item) == text:
                    return name
    return None
