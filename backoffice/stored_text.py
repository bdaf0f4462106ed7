"""Messages stored in no language: whoever reads them later reads them in their own.

A message written to the database (an import batch's status, a notification) is written by a
job, which has no request and so the default language, or by one user's request, and is read
later by others in either language. Storing the translated text shows a Chinese sentence on an
English screen. So a lazy translation is stored as its message id and parameters (JSON after a
marker) and translated when it is shown; plain text (a file's own error, text stored before)
is shown as it is.

    batch.message = stored_text.keep(_l("Resumed after row %(row)s.", row=12))
    {{ batch.message | shown_text }}            or  stored_text.show(batch.message)

Parameters may be lazy translations themselves (kept the same way), ``joined`` lists of them, or
plain values; several parts are joined with a space (``keep(_l("Cancelled."), _l("Nothing was
written."))``).
"""
from __future__ import annotations

import json

from flask_babel import gettext, lazy_gettext, lazy_ngettext, lazy_pgettext, ngettext, pgettext
from flask_babel.speaklater import LazyString

MARK = "\x1ei18n:"  # a record separator no typed or imported text contains (imports refuse it)
_FUNCTIONS = {function.__name__: function for function in (gettext, ngettext, pgettext)}


def keep(*parts) -> str | None:
    """``parts`` (lazy translations or plain text) as one storable value; None if none."""
    parts = [part for part in parts if part not in (None, "")]
    if not parts:
        return None
    if not any(isinstance(part, (LazyString, Joined)) for part in parts):
        return " ".join(str(part) for part in parts)
    return MARK + json.dumps([_encode(part) for part in parts], ensure_ascii=False,
                             separators=(",", ":"))


def show(stored) -> str:
    """The stored value in the current language (plain text unchanged)."""
    if stored is None:
        return ""
    if not isinstance(stored, str) or not stored.startswith(MARK):
        return str(stored)
    try:
        parts = json.loads(stored[len(MARK):])
        return " ".join(_decode(part) for part in parts)
    except (ValueError, TypeError, KeyError):  # cut short by an old length limit
        return stored[len(MARK):]


class Joined:
    """Parts shown joined by ``separator`` (a list of lazy translations: "row 5: edited since, row
    9: has accounts")."""

    def __init__(self, separator: str, parts, suffix: str = ""):
        self.separator, self.parts, self.suffix = separator, list(parts), suffix

    def __str__(self) -> str:
        return self.separator.join(str(part) for part in self.parts) + self.suffix


def joined(separator: str, parts, suffix: str = "") -> Joined:
    return Joined(separator, parts, suffix)


def message(stored):
    """The stored value back as what was kept: a lazy translation (a ``Joined`` for several
    parts), so that it can be kept again inside another message (a notice naming a task's
    title) and still read in each reader's language; plain text as it is."""
    if not is_kept(stored):
        return "" if stored is None else str(stored)
    try:
        parts = [_revive(part) for part in json.loads(stored[len(MARK):])]
    except (ValueError, TypeError, KeyError):
        return show(stored)
    return parts[0] if len(parts) == 1 else Joined(" ", parts)


def is_lazy(value) -> bool:
    """Whether ``value`` is a message :func:`keep` stores as a message id (not plain text)."""
    return isinstance(value, (LazyString, Joined))


def is_kept(stored) -> bool:
    return isinstance(stored, str) and stored.startswith(MARK)


def _encode(part):
    if isinstance(part, Joined):
        return {"j": part.separator, "p": [_encode(item) for item in part.parts],
                "s": part.suffix}
    if not isinstance(part, LazyString):
        return str(part) if not isinstance(part, (int, float)) else part
    name = getattr(part._func, "__name__", "")
    if name.startswith("lazy_"):
        name = name[len("lazy_"):]
    if name not in _FUNCTIONS:  # a lazy value of another kind: keep its text
        return str(part)
    return {"f": name, "a": list(part._args),
            "k": {key: _encode(value) for key, value in part._kwargs.items()}}


def _decode(part):
    if not isinstance(part, dict):
        return part if isinstance(part, str) else str(part)
    if "j" in part:
        return part["j"].join(_decode(item) for item in part["p"]) + part.get("s", "")
    kwargs = {key: (_decode(value) if isinstance(value, dict) else value)
              for key, value in part.get("k", {}).items()}
    return _FUNCTIONS[part["f"]](*part["a"], **kwargs)


def _revive(part):
    if not isinstance(part, dict):
        return part
    if "j" in part:
        return Joined(part["j"], [_revive(item) for item in part["p"]], part.get("s", ""))
    lazy = {"gettext": lazy_gettext, "ngettext": lazy_ngettext,
            "pgettext": lazy_pgettext}[part["f"]]
    return lazy(*part["a"], **{key: _revive(value) for key, value in part.get("k", {}).items()})


def install(app) -> None:
    """The ``shown_text`` template filter."""
    app.jinja_env.filters["shown_text"] = show
