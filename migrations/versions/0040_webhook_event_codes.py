"""configuration counters for the automation-rule and webhook tables: each process keeps which
events the rules and webhooks want, and every process sees a rule or webhook switched on at once

Revision ID: 0040_webhook_event_codes
Revises: 0035_switched_on_since

The event outbox asks "does any rule or webhook want this event?" on every flush that touches a
watched record. Each process now keeps the answers while the counters of these two tables in
``crm_config_version`` are unchanged (``backoffice.events.wanted``); the triggers below bump them
in the writing transaction, whoever writes (a screen, the CLI, SQL by hand), as migration
``0027_perf_config_version`` does for the other configuration tables.

The webhook log rows (operation log) name the events a webhook receives by their codes from now
on and are shown in the reader's language; rows written before keep their label text (the log is
hash-chained and never rewritten) and are shown through the labels they match.
"""
import sqlalchemy as sa
from alembic import op

revision = "0040_webhook_event_codes"
down_revision = "0035_switched_on_since"
branch_labels = None
depends_on = None

# Kept here (not imported from the app) so that this revision keeps its meaning. An update
# bumps a counter only when it sets a column that decides which events are wanted: a rule's
# run bookkeeping (``last_run_at``, the schedule slot) is written on every run and would
# otherwise empty the kept answers each time.
TABLES = {
    "automation_rule": ("enabled", "trigger_kind", "trigger_on", "trigger_event"),
    "webhook": ("active", "events"),
}


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    fresh = "nextval('crm_config_version_seq')" if postgres else "abs(random())"
    for name in TABLES:
        op.execute(sa.text(f"INSERT INTO crm_config_version (name, version) "
                           f"VALUES (:name, {fresh})").bindparams(name=name))
    if postgres:  # the function of 0027, which this revision follows
        for name, columns in TABLES.items():
            op.execute(f"CREATE TRIGGER crm_config_version_{name} AFTER INSERT OR UPDATE OF "
                       f"{', '.join(columns)} OR DELETE OR TRUNCATE ON {name} FOR EACH "
                       f"STATEMENT EXECUTE FUNCTION crm_bump_config_version()")
    else:  # SQLite: row triggers, one per kind of write
        for name, columns in TABLES.items():
            for event in ("insert", "update", "delete"):
                what = f"UPDATE OF {', '.join(columns)}" if event == "update" else event.upper()
                op.execute(f"CREATE TRIGGER crm_config_version_{name}_{event} AFTER "
                           f"{what} ON {name} BEGIN UPDATE crm_config_version SET "
                           f"version = abs(random()) WHERE name = '{name}'; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS crm_config_version_{name} ON {name}")
    else:
        for name in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS crm_config_version_{name}_{event}")
    for name in TABLES:
        op.execute(sa.text("DELETE FROM crm_config_version WHERE name = :name")
                   .bindparams(name=name))
