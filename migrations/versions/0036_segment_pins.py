"""segment members pinned by an automation rule: kept by the refresh, counted apart

A membership row now says why the customer is a member: ``source`` 'rule' (the segment's rule
matched; the refresh removes it when it stops matching) or 'added' (pinned: an automation rule
added it, named in ``added_by_rule_id``, at ``added_at``; the refresh keeps it), and ``matched``:
whether the rule matched at the last refresh. Segments and daily counts gain the number pinned.

Existing rows are rule rows, except those an automation rule added that are still there: the
"add to segment" action wrote the row with ``since`` equal to its ledger row's ``fired_at`` (the
same instant, for the same rule and customer), so such rows are pinned to that rule. Whether the
rule matched them is known only if a refresh ran after they were added (and kept them).

Revision ID: 0036_segment_pins
Revises: 0035_switched_on_since
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0036_segment_pins"
down_revision = "0035_switched_on_since"
branch_labels = None
depends_on = None

PINNED_WHERE = "source = 'added'"


def upgrade():
    with op.batch_alter_table("segment_membership") as batch:
        batch.add_column(sa.Column("source", sa.String(10), nullable=False,
                                   server_default="rule"))
        batch.add_column(sa.Column("matched", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("added_by_rule_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("added_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key("fk_segment_membership_added_by_rule_id_automation_rule",
                                 "automation_rule", ["added_by_rule_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_check_constraint("ck_segment_membership_source",
                                      "source IN ('rule','added')")
        batch.create_check_constraint("ck_segment_membership_reason",
                                      "matched OR source = 'added'")
    op.create_index("ix_segment_membership_pinned", "segment_membership", ["segment_id"],
                    postgresql_where=sa.text(PINNED_WHERE), sqlite_where=sa.text(PINNED_WHERE))
    with op.batch_alter_table("segment") as batch:
        batch.add_column(sa.Column("pinned_count", sa.Integer(), nullable=True))
    with op.batch_alter_table("segment_count") as batch:
        batch.add_column(sa.Column("pinned", sa.Integer(), nullable=False, server_default="0"))
    _pin_rows_rules_added()


def _segment_actions(actions) -> set:
    """The segment ids a rule's actions add customers to (the JSON list, as stored)."""
    if isinstance(actions, str):
        try:
            actions = json.loads(actions)
        except ValueError:
            return set()
    found = set()
    for action in actions or []:
        if isinstance(action, dict) and action.get("kind") == "segment":
            try:
                found.add(int(action.get("segment_id")))
            except (TypeError, ValueError):
                continue
    return found


def _pin_rows_rules_added():
    connection = op.get_bind()
    rules = connection.execute(sa.text("SELECT id, actions FROM automation_rule")).all()
    for rule_id, actions in rules:
        for segment_id in sorted(_segment_actions(actions)):
            # Matched only if a refresh after the addition kept the row.
            connection.execute(sa.text(
                "UPDATE segment_membership SET source = 'added', added_by_rule_id = :rule, "
                "added_at = since, matched = CASE WHEN EXISTS (SELECT 1 FROM segment s "
                "WHERE s.id = segment_membership.segment_id AND s.refreshed_at > "
                "segment_membership.since) THEN :yes ELSE :no END "
                "WHERE segment_id = :segment AND source = 'rule' AND EXISTS ("
                "SELECT 1 FROM automation_fire f WHERE f.rule_id = :rule "
                "AND f.customer_id = segment_membership.customer_id "
                "AND f.fired_at = segment_membership.since AND f.actions > 0)"),
                {"rule": rule_id, "segment": segment_id, "yes": True, "no": False})


def downgrade():
    # Pinned rows stay as plain rows (the state before this revision): the old refresh keeps
    # those its rule matches and removes the others, as it did before.
    with op.batch_alter_table("segment_count") as batch:
        batch.drop_column("pinned")
    with op.batch_alter_table("segment") as batch:
        batch.drop_column("pinned_count")
    op.drop_index("ix_segment_membership_pinned", table_name="segment_membership")
    with op.batch_alter_table("segment_membership") as batch:
        batch.drop_constraint("ck_segment_membership_reason", type_="check")
        batch.drop_constraint("ck_segment_membership_source", type_="check")
        batch.drop_constraint("fk_segment_membership_added_by_rule_id_automation_rule",
                              type_="foreignkey")
        batch.drop_column("added_at")
        batch.drop_column("added_by_rule_id")
        batch.drop_column("matched")
        batch.drop_column("source")
