"""Migration 0036 tells pinned segment members from matched ones, on a database that already
holds memberships.

Guards: every membership survives the upgrade; a row an automation rule added (its ledger row
fired at the row's ``since``, for that rule, customer and a rule whose actions add to that
segment) becomes pinned to the rule, matched only if a refresh ran after it was added (and kept
it); every other row is a rule row. Afterwards the database refuses an unknown source and a row
that is neither matched nor pinned; the downgrade keeps every row and drops the new columns, and
the upgrade runs again on the result.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from backoffice.extensions import db
from tests.support.services import migration_app, migration_module

MIGRATION = migration_module("0036_segment_pins")
BEFORE = MIGRATION.down_revision
T0 = dt.datetime(2026, 5, 1, 2, 0)  # the segment's first refresh
T1 = dt.datetime(2026, 5, 3, 9, 30)  # the rule adds customer 2
T2 = dt.datetime(2026, 5, 4, 2, 0)  # a refresh keeps customer 2 (the rule matches them)
T3 = dt.datetime(2026, 5, 4, 9, 30)  # the rule adds customer 3, after the last refresh


def _filler(column):
    kind = column["type"]
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.DateTime):
        return T0
    if isinstance(kind, sa.Date):
        return T0.date()
    if isinstance(kind, (sa.Integer, sa.Numeric)):
        return 0
    if isinstance(kind, sa.JSON) or "JSON" in type(kind).__name__.upper():
        return "{}"
    return "x"


def _insert(connection, table: str, **values) -> int | None:
    """A row of ``table`` as the schema stands: the given values, and a plain value for every
    other column the schema requires (the test does not depend on them)."""
    columns = sa.inspect(connection).get_columns(table)
    for column in columns:
        if column["name"] in values or column["nullable"] or column.get("default") is not None:
            continue
        if column["name"] == "id" or column.get("autoincrement") is True:
            continue
        values[column["name"]] = _filler(column)
    target = sa.table(table, *(sa.column(name) for name in values), sa.column("id"))
    if any(c["name"] == "id" for c in columns):
        return connection.execute(sa.insert(target).values(**values)
                                  .returning(target.c.id)).scalar_one()
    connection.execute(sa.insert(target).values(**values))
    return None


def _plant(connection) -> dict:
    branch = _insert(connection, "branch", code="M36", name="迁移支行")
    customers = [_insert(connection, "customer", customer_no=f"M36{n:04d}", name=f"迁移客户{n}",
                         branch_id=branch, record_uid=f"m36{n:029d}", id_number_bidx=f"m36-{n}",
                         custom_fields="{}", tier="mass", customer_type="individual",
                         id_type="PRC_ID", status="active", version=1)
                 for n in (1, 2, 3, 4)]
    segment = _insert(connection, "segment", code="m36_seg", name="迁移分群", kind="segment",
                      rule=json.dumps({"op": "or", "items": []}), offer_categories="[]",
                      active=True, refreshed_at=T2, member_count=2)
    other = _insert(connection, "segment", code="m36_other", name="另一分群", kind="segment",
                    rule=json.dumps({"op": "or", "items": []}), offer_categories="[]",
                    active=True)
    rule = {"enabled": True, "trigger_kind": "schedule", "schedule_kind": "daily",
            "schedule_time": "09:00", "approval": "none"}
    adds = _insert(connection, "automation_rule", name="加入分群", **rule,
                   actions=json.dumps([{"kind": "segment", "segment_id": segment}]))
    tasks = _insert(connection, "automation_rule", name="只建任务", **rule,
                    actions=json.dumps([{"kind": "task", "assignee": "owner"}]))
    c1, c2, c3, c4 = customers
    rows = [(segment, c1, T0), (segment, c2, T1), (segment, c3, T3), (other, c2, T1),
            (segment, c4, T1)]
    for segment_id, customer_id, since in rows:
        _insert(connection, "segment_membership", segment_id=segment_id,
                customer_id=customer_id, since=since)
    fires = [(adds, c1, T1), (adds, c2, T1), (adds, c3, T3), (tasks, c4, T1)]
    for n, (rule, customer_id, fired_at) in enumerate(fires):
        _insert(connection, "automation_fire", rule_id=rule, entity="customer",
                entity_id=customer_id, occurrence=f"manual:{n}", customer_id=customer_id,
                actions=1, fired_at=fired_at)
    _insert(connection, "segment_count", segment_id=segment, day=T2.date(), count=2)
    return {"segment": segment, "other": other, "adds": adds, "customers": customers}


def _memberships() -> set:
    """Read and let go (a migration on another connection must not wait for this one)."""
    found = set(db.session.execute(sa.text(
        "SELECT segment_id, customer_id FROM segment_membership")).all())
    db.session.remove()
    return found


def test_upgrade_pins_what_rules_added_and_downgrade_keeps_every_row(tmp_path):
    with migration_app(tmp_path) as app, app.app_context():
        upgrade(revision=BEFORE)
        planted = _plant(db.session.connection())
        db.session.commit()
        before = _memberships()
        upgrade(revision=MIGRATION.revision)

        segment, other, adds = planted["segment"], planted["other"], planted["adds"]
        c1, c2, c3, c4 = planted["customers"]
        rows = {(s, c): (source, bool(matched), rule, added_at)
                for s, c, source, matched, rule, added_at in db.session.execute(sa.text(
                    "SELECT segment_id, customer_id, source, matched, added_by_rule_id, "
                    "added_at FROM segment_membership")).all()}
        assert set(rows) == before
        assert rows[(segment, c1)] == ("rule", True, None, None)  # fired, but not that time
        assert rows[(segment, c2)][:3] == ("added", True, adds)  # kept by the refresh at T2
        assert rows[(segment, c3)][:3] == ("added", False, adds)  # no refresh since
        assert rows[(other, c2)] == ("rule", True, None, None)  # the rule adds to another
        assert rows[(segment, c4)] == ("rule", True, None, None)  # that rule makes tasks
        assert {str(rows[k][3])[:19] for k in ((segment, c2), (segment, c3))} == {
            str(T1), str(T3)}
        assert db.session.execute(sa.text(
            "SELECT count, pinned FROM segment_count")).one() == (2, 0)

        connection = db.session.connection()
        for bad in ({"source": "bogus", "matched": True}, {"source": "rule", "matched": False}):
            with pytest.raises(sa.exc.IntegrityError):
                with connection.begin_nested():
                    _insert(connection, "segment_membership", segment_id=other,
                            customer_id=c3, since=T3, **bad)
        db.session.rollback()

        downgrade(revision=BEFORE)
        assert _memberships() == before
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("segment_membership")}
        assert not columns & {"source", "matched", "added_by_rule_id", "added_at"}
        db.session.remove()
        upgrade(revision=MIGRATION.revision)
        assert _memberships() == before
        db.session.remove()
