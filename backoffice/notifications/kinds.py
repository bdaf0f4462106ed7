"""The registry of notification kinds: a code stored on each row, a label shown to people.

Features declare the kinds they raise (``declare("rule", _l("Rule notification"))``) so that the
page's filter and every row show a label, never the code; the kinds this room knows of are
declared here, so a caller never meets an unknown kind because of import order.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

_KINDS: dict[str, object] = {}


def declare(kind: str, label) -> str:
    """Register ``kind`` (at most 40 characters) with its label (a lazy translation)."""
    if not kind or len(kind) > 40:
        raise ValueError(f"notification kind must be 1-40 characters: {kind!r}")
    _KINDS[kind] = label
    return kind


def known(kind: str) -> bool:
    return kind in _KINDS


def label(kind: str) -> str:
    """The kind's label in the current language (a kind no longer declared: a neutral word)."""
    found = _KINDS.get(kind)
    return str(found) if found is not None else str(_l("Notification"))


def choices() -> list[tuple[str, str]]:
    """``(kind, label)`` for every declared kind, in declaration order."""
    return [(kind, str(text)) for kind, text in _KINDS.items()]


MENTION = declare("mention", _l("Mention"))
MENTION_HIDDEN = declare("mention_hidden", _l("Mention (record not visible)"))
TASK_ASSIGNED = declare("task_assigned", _l("Task assigned"))
APPROVAL_WAITING = declare("approval_waiting", _l("Approval waiting"))
RULE = declare("rule", _l("Rule notification"))
IMPORT_FINISHED = declare("import_finished", _l("Import finished"))
