"""On PostgreSQL the application's own connection cannot change or remove log rows.

Triggers refuse UPDATE, DELETE and TRUNCATE of ``audit_log`` for every connection that does not
switch triggers off (which only a superuser can); a DELETE passes only inside a purge of rows an
archive covers. The head may only move forward.
"""
from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from backoffice.extensions import db
from tests.support.services import require_postgresql


@pytest.fixture
def pg_app(app):
    require_postgresql()
    return app


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET action = 'login' WHERE id = (SELECT max(id) FROM audit_log)",
    "UPDATE audit_log SET detail = NULL",
    "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "UPDATE audit_head SET last_id = 0",
    "DELETE FROM audit_head",
    "TRUNCATE audit_head",
])
def test_app_connection_cannot_change_the_log(pg_app, audit_rows, statement):
    audit_rows(2)
    with pg_app.app_context():
        with pytest.raises(exc.DBAPIError) as refused, db.engine.connect() as connection:
            connection.execute(text(statement))
        assert "refused" in str(refused.value) or "only move forward" in str(refused.value)
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM audit_log")).scalar() >= 2


def test_orm_session_cannot_edit_a_log_row(pg_app, audit_rows):
    from models.audit import AuditLog

    rows = audit_rows(1)
    with pg_app.app_context():
        entry = db.session.get(AuditLog, rows[0]["id"])
        entry.action = "login"
        with pytest.raises(exc.DBAPIError):
            db.session.commit()
        db.session.rollback()
        db.session.remove()


def test_purge_setting_does_not_open_unarchived_rows(pg_app, audit_rows):
    """Naming an archive lets a DELETE through only for the rows that archive covers."""
    rows = audit_rows(1)
    with pg_app.app_context(), db.engine.connect() as connection:
        connection.execute(text("SELECT set_config('crm.audit_purge', '999999', true)"))
        with pytest.raises(exc.DBAPIError):
            connection.execute(text("DELETE FROM audit_log WHERE id = :id"),
                               {"id": rows[0]["id"]})
