"""The hash chain: rows link up, ``verify`` accepts an untouched log and names the first row
that was edited, deleted or reordered through a connection that bypasses the log's guards."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from backoffice.audit import chain
from backoffice.audit.log import record
from backoffice.extensions import db
from models.audit import AuditHead, AuditLog
from tests.audit.conftest import keyed_hash, log_rows, superuser, verify_cli

LOG = AuditLog.__table__
HEAD = AuditHead.__table__


def test_record_appends_linked_rows_that_verify(app):
    """Each row carries the previous row's hash; detail is stored as canonical JSON text."""
    with app.app_context():
        first = record("config_change", entity="Role", entity_id="Teller",
                       detail={"b": 1, "a": ["x", "y"], "名": "值"}, actor="admin")
        second = record("export", entity="Customer", detail={"ids": [1, 2, 3]})
    assert second["id"] == first["id"] + 1
    assert second["prev_hash"] == first["row_hash"]
    stored = log_rows(app, LOG.c.id == first["id"])[0]
    assert stored["detail"] == '{"a":["x","y"],"b":1,"名":"值"}'
    assert stored["actor_username"] == "admin"
    assert stored["row_hash"] == keyed_hash(app, stored["id"], stored, stored["prev_hash"])
    code, output = verify_cli(app)
    assert code == 0, output
    assert output.startswith("OK:")


def test_hash_survives_the_database_round_trip(app):
    """Times to the microsecond, unicode and None read back exactly as they were hashed."""
    import datetime as dt

    from backoffice.audit.log import build_row, write

    with app.app_context():
        row = build_row("view_customer", entity="Customer", entity_id=7, customer_id=7,
                        detail={"note": "带空格 and \"quotes\""}, actor="审计员",
                        occurred_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678901))
        written = write([row])[0]
        db.session.remove()
    stored = log_rows(app, LOG.c.id == written["id"])[0]
    assert stored["occurred_at"] == dt.datetime(2026, 1, 2, 3, 4, 5, 678901)
    assert keyed_hash(app, stored["id"], stored, stored["prev_hash"]) == stored["row_hash"]


def _snapshot(app, row_id):
    return log_rows(app, LOG.c.id == row_id)[0]


def _restore(app, *rows, reinsert=False):
    with superuser(app) as connection:
        for row in rows:
            if reinsert:
                connection.execute(LOG.insert().values(**row))
            else:
                values = {k: v for k, v in row.items() if k != "id"}
                connection.execute(LOG.update().where(LOG.c.id == row["id"]).values(**values))


def _assert_fails_at(app, row_id):
    code, output = verify_cli(app)
    assert code == 1, output
    assert f"FAILED at row {row_id}:" in output, output
    return output


def test_editing_any_field_of_a_middle_row_fails_at_that_row(app, audit_rows):
    rows = audit_rows(5)
    target = rows[2]["id"]
    original = _snapshot(app, target)
    for column, value in (("action", "view_customer"), ("actor_username", "someone_else"),
                          ("detail", json.dumps({"n": 99})), ("ip", "10.0.0.66")):
        with superuser(app) as connection:
            connection.execute(LOG.update().where(LOG.c.id == target).values({column: value}))
        _assert_fails_at(app, target)
        _restore(app, original)
    assert verify_cli(app)[0] == 0


def test_rewriting_a_row_with_a_recomputed_hash_fails_at_the_next_row(app, audit_rows):
    rows = audit_rows(3)
    target = rows[1]["id"]
    original = _snapshot(app, target)
    forged = {**original, "action": "login"}
    forged_hash = keyed_hash(app, target, forged, original["prev_hash"])
    with superuser(app) as connection:
        connection.execute(LOG.update().where(LOG.c.id == target)
                           .values(action="login", row_hash=forged_hash))
    _assert_fails_at(app, target + 1)
    _restore(app, original)
    assert verify_cli(app)[0] == 0


def test_deleting_a_middle_row_names_it(app, audit_rows):
    rows = audit_rows(4)
    target = rows[1]["id"]
    original = _snapshot(app, target)
    with superuser(app) as connection:
        connection.execute(LOG.delete().where(LOG.c.id == target))
    output = _assert_fails_at(app, target)
    assert "missing" in output
    _restore(app, original, reinsert=True)
    assert verify_cli(app)[0] == 0


def test_deleting_the_last_row_is_caught_by_the_head(app, audit_rows):
    rows = audit_rows(2)
    target = rows[-1]["id"]
    original = _snapshot(app, target)
    with superuser(app) as connection:
        connection.execute(LOG.delete().where(LOG.c.id == target))
    _assert_fails_at(app, target)
    _restore(app, original, reinsert=True)
    assert verify_cli(app)[0] == 0


def test_deleting_the_first_row_names_it(app, audit_rows):
    audit_rows(1)
    first = log_rows(app)[0]
    with superuser(app) as connection:
        connection.execute(LOG.delete().where(LOG.c.id == first["id"]))
    _assert_fails_at(app, first["id"])
    _restore(app, first, reinsert=True)
    assert verify_cli(app)[0] == 0


@pytest.mark.parametrize("distance", [1, 3])
def test_swapping_two_rows_fails_at_the_first_of_them(app, audit_rows, distance):
    """Reordering: two rows exchange their contents (and hashes); the ids stay in place."""
    rows = audit_rows(5)
    a, b = rows[1]["id"], rows[1 + distance]["id"]
    row_a, row_b = _snapshot(app, a), _snapshot(app, b)
    with superuser(app) as connection:
        for target, source in ((a, row_b), (b, row_a)):
            values = {k: v for k, v in source.items() if k != "id"}
            connection.execute(LOG.update().where(LOG.c.id == target).values(**values))
    _assert_fails_at(app, a)
    _restore(app, row_a, row_b)
    assert verify_cli(app)[0] == 0


def test_a_row_appended_behind_the_writers_back_is_named(app, audit_rows):
    rows = audit_rows(1)
    last = _snapshot(app, rows[-1]["id"])
    forged = {**last, "id": last["id"] + 1, "prev_hash": last["row_hash"], "action": "login"}
    forged["row_hash"] = keyed_hash(app, forged["id"], forged, forged["prev_hash"])
    with superuser(app) as connection:
        connection.execute(LOG.insert().values(**forged))
    _assert_fails_at(app, forged["id"])
    with superuser(app) as connection:
        connection.execute(LOG.delete().where(LOG.c.id == forged["id"]))
    assert verify_cli(app)[0] == 0


def test_verify_reports_the_row_count(app, audit_rows):
    audit_rows(2)
    with app.app_context(), db.engine.connect() as connection:
        result = chain.verify(connection)
        total = connection.execute(text("SELECT count(*) FROM audit_log")).scalar()
    assert result.ok and result.count == total
    code, output = verify_cli(app)
    assert code == 0 and f"{total} rows verified" in output


def test_single_row_append_hashes_tricky_text_like_verify(app):
    """The one-row append (on PostgreSQL the head move and insert in one statement, the keyed
    hash computed here since the key never reaches the database) stores exactly what
    ``compute_hash`` hashes: quotes, backslashes, control characters, CJK, emoji and NULLs
    included; the head moves to the new row."""
    import datetime as dt

    from backoffice.audit.log import build_row, write

    with app.app_context():
        record("view_customer", entity="Customer", entity_id=1)  # the head row exists
        row = build_row("view_360", entity="Customer", entity_id="9\\1", customer_id=None,
                        detail={"q": "\"引号\" \\ 反斜杠\n\t", "e": "😀", "n": None},
                        actor="审计员 'x'", occurred_at=dt.datetime(2026, 3, 4, 5, 6, 7, 1))
        written = write([row])[0]
        with db.engine.connect() as connection:
            head = connection.execute(HEAD.select()).first()
    stored = log_rows(app, LOG.c.id == written["id"])[0]
    assert stored["row_hash"] == written["row_hash"]
    assert keyed_hash(app, stored["id"], stored, stored["prev_hash"]) == stored["row_hash"]
    assert chain.unkeyed_hash(stored["id"], stored, stored["prev_hash"]) != stored["row_hash"]
    assert (head.last_id, head.last_hash) == (written["id"], written["row_hash"])
    assert log_rows(app, LOG.c.id == written["id"] - 1)[0]["row_hash"] == stored["prev_hash"]
