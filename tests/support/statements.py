"""The statements a block of requests sends, and the ORM lazy loads among them.

Server CPU per page is mostly what the ORM does per statement, so the scale tests count them:
a count that grows with the page size, or a relation loaded one object at a time, is a cost on
every page. Lazy loads are only SELECTs; other ORM executions (text queries) carry no load
options to ask about.
"""
from __future__ import annotations

import contextlib

from sqlalchemy import event


@contextlib.contextmanager
def counting(app):
    """``{"statements": [...], "lazy": [...]}`` filled while the block runs."""
    from sqlalchemy.orm import Session

    from backoffice.extensions import db

    with app.app_context():
        engine = db.engine
    seen = {"statements": [], "lazy": []}

    def before(conn, cursor, statement, *args):
        seen["statements"].append(statement)

    def orm(state):
        if state.is_select and state.lazy_loaded_from is not None:  # one object's relation
            seen["lazy"].append(str(state.statement))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(Session, "do_orm_execute", orm)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(Session, "do_orm_execute", orm)
