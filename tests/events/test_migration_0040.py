"""Migration 0040 gives the rules and webhooks tables counters, on a database that already holds
rules and webhooks: a write that can change which events are wanted bumps its table's counter
(so every process asks again), a rule's run bookkeeping does not; the downgrade removes the
counters and their triggers, and the upgrade runs again on the result."""
from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from backoffice.extensions import db
from tests.support.services import migration_app, migration_module

MIGRATION = migration_module("0040_webhook_event_codes")
BEFORE = MIGRATION.down_revision


def _counters() -> dict:
    return dict(db.session.execute(sa.text(
        "SELECT name, version FROM crm_config_version WHERE name IN "
        "('automation_rule', 'webhook')")).all())


def _bumps(sql: str, table: str) -> bool:
    before = _counters()[table]
    db.session.execute(sa.text(sql))
    db.session.commit()
    return _counters()[table] != before


@pytest.mark.parametrize("sqlite", [False, True], ids=["configured", "sqlite"])
def test_counters_follow_what_decides_the_wanted_events(tmp_path, sqlite):
    with migration_app(tmp_path, sqlite=sqlite) as app, app.app_context():
        upgrade(revision=BEFORE)
        now = dt.datetime(2026, 5, 1, 9, 30)
        rule = db.session.execute(sa.text(
            "INSERT INTO automation_rule (name, enabled, trigger_kind, trigger_event, actions, "
            "approval, created_at, updated_at) VALUES ('迁移规则', true, 'event', "
            "'complaint.opened', '[]', 'none', :now, :now) RETURNING id"), {"now": now}).scalar()
        hook = db.session.execute(sa.text(
            "INSERT INTO webhook (record_uid, name, url, events, secret_enc, active, created_at, "
            "updated_at) VALUES (:uid, '迁移 Webhook', 'http://a.example/h', :events, 'sealed', "
            "false, :now, :now) RETURNING id"),
            {"uid": "m40" + "0" * 29, "events": json.dumps(["complaint.opened"]),
             "now": now}).scalar()
        db.session.commit()
        upgrade(revision=MIGRATION.revision)

        assert set(_counters()) == {"automation_rule", "webhook"}
        assert _bumps(f"UPDATE webhook SET active = true WHERE id = {hook}", "webhook")
        assert _bumps(f"UPDATE automation_rule SET enabled = false WHERE id = {rule}",
                      "automation_rule")
        assert not _bumps(f"UPDATE automation_rule SET last_run_at = CURRENT_TIMESTAMP "
                          f"WHERE id = {rule}", "automation_rule")
        assert not _bumps(f"UPDATE webhook SET url = 'http://b.example/h' WHERE id = {hook}",
                          "webhook")
        assert _bumps(f"DELETE FROM webhook WHERE id = {hook}", "webhook")

        downgrade(revision=BEFORE)
        assert _counters() == {}
        db.session.execute(sa.text(f"UPDATE automation_rule SET enabled = true WHERE id = {rule}"))
        db.session.commit()  # no trigger left behind to bump a missing counter
        db.session.remove()
        upgrade(revision=MIGRATION.revision)
        assert set(_counters()) == {"automation_rule", "webhook"}
        db.session.remove()
