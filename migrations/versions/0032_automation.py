"""automation rules: rules, runs and their log, the exactly-once ledger, rule messages

Revision ID: 0032_automation
Revises: 0028_stored_messages

New tables only, plus the two default rules (switched off; see ``backoffice.automation.defaults``
for why): existing data is untouched.
"""
import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0032_automation"
down_revision = "0028_stored_messages"
branch_labels = None
depends_on = None


def _user_fk(name):
    return sa.ForeignKey("ab_user.id", name=name, ondelete="SET NULL")


def upgrade():
    rule = op.create_table(
        "automation_rule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trigger_kind", sa.String(10), nullable=False),
        sa.Column("trigger_entity", sa.String(30)),
        sa.Column("trigger_on", sa.String(10)),
        sa.Column("trigger_field", sa.String(80)),
        sa.Column("trigger_from", sa.String(200)),
        sa.Column("trigger_to", sa.String(200)),
        sa.Column("trigger_event", sa.String(80)),
        sa.Column("schedule_kind", sa.String(10)),
        sa.Column("schedule_time", sa.String(5)),
        sa.Column("schedule_day", sa.Integer()),
        sa.Column("conditions", sa.JSON()),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("branch_id", sa.Integer(),
                  sa.ForeignKey("branch.id", name="fk_automation_rule_branch_id_branch",
                                ondelete="CASCADE")),
        sa.Column("max_per_run", sa.Integer()),
        sa.Column("max_per_hour", sa.Integer()),
        sa.Column("approval", sa.String(10), nullable=False),
        sa.Column("approval_requested_by_id", sa.Integer(),
                  _user_fk("fk_automation_rule_requested_by")),
        sa.Column("approved_by_id", sa.Integer(), _user_fk("fk_automation_rule_approved_by")),
        sa.Column("approved_at", sa.DateTime()),
        sa.Column("builtin_code", sa.String(40)),
        sa.Column("created_by_id", sa.Integer(), _user_fk("fk_automation_rule_created_by")),
        sa.Column("updated_by_id", sa.Integer(), _user_fk("fk_automation_rule_updated_by")),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_run_at", sa.DateTime()),
        sa.Column("last_schedule_key", sa.String(40)),
        sa.UniqueConstraint("builtin_code", name="uq_automation_rule_builtin_code"),
    )
    op.create_index("ix_automation_rule_trigger_event", "automation_rule", ["trigger_event"])
    op.create_index("ix_automation_rule_branch_id", "automation_rule", ["branch_id"])
    op.create_table(
        "automation_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rule_id", sa.Integer(),
                  sa.ForeignKey("automation_rule.id", name="fk_automation_run_rule_id",
                                ondelete="CASCADE"), nullable=False),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("occurrence", sa.String(200)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("acted", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("started_by_id", sa.Integer(), _user_fk("fk_automation_run_started_by")),
        sa.Column("job_run_id", sa.Integer()),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_automation_run_rule_started", "automation_run", ["rule_id", "started_at"])
    op.create_table(
        "automation_run_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(),
                  sa.ForeignKey("automation_run.id", name="fk_automation_run_item_run_id",
                                ondelete="CASCADE"), nullable=False),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", name="fk_automation_run_item_customer_id",
                                ondelete="CASCADE")),
        sa.Column("entity", sa.String(30), nullable=False),
        sa.Column("entity_id", sa.Integer()),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_automation_run_item_run_id", "automation_run_item", ["run_id"])
    op.create_index("ix_automation_run_item_customer_id", "automation_run_item", ["customer_id"])
    op.create_table(
        "automation_fire",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rule_id", sa.Integer(),
                  sa.ForeignKey("automation_rule.id", name="fk_automation_fire_rule_id",
                                ondelete="CASCADE"), nullable=False),
        sa.Column("entity", sa.String(30), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", name="fk_automation_fire_customer_id",
                                ondelete="CASCADE")),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("fired_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("rule_id", "entity", "entity_id", "occurrence",
                            name="uq_automation_fire"),
    )
    op.create_index("ix_automation_fire_rule_fired", "automation_fire", ["rule_id", "fired_at"])
    op.create_index("ix_automation_fire_customer_id", "automation_fire", ["customer_id"])
    op.create_table(
        "automation_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rule_id", sa.Integer(),
                  sa.ForeignKey("automation_rule.id", name="fk_automation_message_rule_id",
                                ondelete="CASCADE"), nullable=False),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", name="fk_automation_message_customer_id",
                                ondelete="CASCADE"), nullable=False),
        sa.Column("occurrence", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("purpose", sa.String(12), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("claimed_at", sa.DateTime()),
        sa.Column("subject", sa.String(200)),
        sa.Column("body", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column("interaction_id", sa.Integer(),
                  sa.ForeignKey("interaction.id", name="fk_automation_message_interaction_id",
                                ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime()),
        sa.UniqueConstraint("rule_id", "customer_id", "occurrence",
                            name="uq_automation_message"),
    )
    op.create_index("ix_automation_message_work", "automation_message",
                    ["status", "next_attempt_at"])
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    op.bulk_insert(rule, [dict(row, created_at=now, updated_at=now, enabled=False,
                               approval="none") for row in DEFAULT_RULES])


# The default rules as they stood when this migration was written (the shipped definitions
# live in ``backoffice.automation.defaults``; a migration keeps its own copy). Names and
# descriptions are stored as message ids (``backoffice.stored_text``) so each reader sees them
# in their language until someone renames the rule.
def _kept(msgid: str) -> str:
    return "\x1ei18n:" + json.dumps([{"f": "gettext", "a": [msgid], "k": {}}],
                                     ensure_ascii=False, separators=(",", ":"))


DEFAULT_RULES = [
    {"builtin_code": "churn_retention", "name": _kept("Churn retention follow-up"),
     "description": _kept(
         "When a customer reaches churn warning P1 or P2, the relationship manager gets a "
         "retention task (skipped while one is open). Off by default: churn scoring already "
         "opens these tasks itself; switched on, this rule adds none twice because it skips "
         "customers with an open retention task."),
     "trigger_kind": "event", "trigger_event": "churn.tier_reached", "conditions": None,
     "actions": [{"kind": "task", "assignee": "owner", "task_type": "retention",
                  "due_days": 2, "title": "流失预警挽留跟进任务", "unless_open": True}],
     "max_per_run": None, "max_per_hour": 500},
    {"builtin_code": "overdue_escalation", "name": _kept("Overdue task escalation"),
     "description": _kept(
         "When a task is overdue, the branch manager of the customer's branch is told in the "
         "app. Off by default: the daily reminders already escalate overdue inquiries and "
         "churn scoring escalates overdue P1 retention tasks; this rule adds a notice for "
         "every overdue task, it does not replace them."),
     "trigger_kind": "event", "trigger_event": "task.overdue", "conditions": None,
     "actions": [{"kind": "notify", "assignee": "branch_manager", "text": ""}],
     "max_per_run": None, "max_per_hour": 500},
]


def downgrade():
    op.drop_index("ix_automation_message_work", table_name="automation_message")
    op.drop_table("automation_message")
    op.drop_index("ix_automation_fire_customer_id", table_name="automation_fire")
    op.drop_index("ix_automation_fire_rule_fired", table_name="automation_fire")
    op.drop_table("automation_fire")
    op.drop_index("ix_automation_run_item_customer_id", table_name="automation_run_item")
    op.drop_index("ix_automation_run_item_run_id", table_name="automation_run_item")
    op.drop_table("automation_run_item")
    op.drop_index("ix_automation_run_rule_started", table_name="automation_run")
    op.drop_table("automation_run")
    op.drop_index("ix_automation_rule_branch_id", table_name="automation_rule")
    op.drop_index("ix_automation_rule_trigger_event", table_name="automation_rule")
    op.drop_table("automation_rule")
