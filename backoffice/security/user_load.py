"""What a request reads together with its signed-in user: one statement where there were three.

Every signed-in request loads its user first (Flask-Login from the session cookie, or the JWT's
subject), and every page then asked the database, each in a round trip of its own, for small
things that depend on nothing but that user and the moment: the configuration counters every
per-process cache checks (``backoffice.config_cache``) and the unread notices on the bell. A
statement costs the app and the database some hundred microseconds whatever it reads, so rooms
register here a column of the user's load instead (a scalar subquery of the user's id); the
load selects them beside the user, and the values are kept on ``g`` for the rest of the
request, for that user only. A reader that finds no value (outside a request, before the user
was loaded, a value forgotten because the request wrote what it depends on) asks the database
as before.
"""
from __future__ import annotations

from typing import Callable

from flask import g, has_request_context

MISSING = object()
_LOADED = "_crm_with_user"

# name -> build(user_id_column, dialect_name) -> a column expression, or None on a dialect
# the value does not apply to
_columns: dict[str, Callable] = {}


def read_with_user(name: str, build: Callable) -> None:
    """Have every load of the request's user also select ``build(user_id, dialect_name)``."""
    _columns[name] = build


def registered() -> tuple[tuple[str, Callable], ...]:
    return tuple(sorted(_columns.items()))


def remember(user_id, values: dict) -> None:
    """Keep what the user's load read, for this request and this user."""
    if has_request_context():
        setattr(g, _LOADED, (user_id, dict(values)))


def loaded(name: str, user_id=None):
    """The value the request's user load read for ``name`` (for ``user_id`` when given), or
    :data:`MISSING`."""
    if not has_request_context():
        return MISSING
    kept = g.get(_LOADED)
    if kept is None or (user_id is not None and kept[0] != user_id):
        return MISSING
    return kept[1].get(name, MISSING)


def forget(name: str) -> None:
    """The request changed what ``name`` depends on: later readers ask the database."""
    if has_request_context():
        kept = g.get(_LOADED)
        if kept is not None:
            kept[1].pop(name, None)
