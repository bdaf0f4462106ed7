"""Helpers for the operation log tests: a tampering (superuser) connection and the CLI."""
from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import select, text

from backoffice.extensions import db


@contextlib.contextmanager
def superuser(app):
    """A raw connection that bypasses the log's triggers, as only a superuser can.

    On PostgreSQL ``session_replication_role = replica`` switches ordinary triggers off for the
    session (superusers only); SQLite has no triggers on the log. Commits on exit.
    """
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET session_replication_role = replica"))
        yield connection
        connection.commit()
        if connection.dialect.name == "postgresql":
            connection.execute(text("RESET session_replication_role"))
            connection.commit()


def log_rows(app, where=None, limit=None):
    """Log rows (as dicts), oldest first, optionally filtered by a Core condition."""
    from models.audit import AuditLog

    table = AuditLog.__table__
    query = select(table).order_by(table.c.id)
    if where is not None:
        query = query.where(where)
    with app.app_context(), db.engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    return rows[-limit:] if limit else rows


def last_id(app) -> int:
    from sqlalchemy import func

    from models.audit import AuditLog

    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(select(func.max(AuditLog.__table__.c.id))).scalar() or 0


def verify_cli(app):
    """``flask crm audit verify`` -> (exit code, output including stderr)."""
    result = app.test_cli_runner().invoke(args=["crm", "audit", "verify"])
    return result.exit_code, result.output


@pytest.fixture
def audit_rows(app):
    """Write ``n`` fresh rows through ``record`` and return them."""
    from backoffice.audit.log import record

    def _make(n=3, action="config_change"):
        with app.app_context():
            return [record(action, entity="Test", entity_id=i, detail={"n": i})
                    for i in range(n)]

    return _make


def keyed_hash(app, row_id, row, prev_hash):
    """The row hash under the app's chain key (what the log writer computes)."""
    from backoffice.audit import chain

    with app.app_context():
        return chain.compute_hash(row_id, row, prev_hash)
