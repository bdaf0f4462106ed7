"""campaign messages: the send ledger of campaign SMS, e-mail and WeChat messages (issue 6);
campaign follow-up tasks get their own task type ``campaign`` (they were ``other``)

Revision ID: 0017_campaign_messages
Revises: 0016_merge_features
"""
import sqlalchemy as sa
from alembic import op

revision = "0017_campaign_messages"
down_revision = "0016_merge_features"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "campaign_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','sending','sent','retry','failed','cancelled')",
            name="ck_campaign_message_status"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_id"], ["campaign_target.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["interaction_id"], ["interaction.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target_id", name="uq_campaign_message_target"),
    )
    op.create_index("ix_campaign_message_work", "campaign_message",
                    ["campaign_id", "status", "next_attempt_at"], unique=False)
    # task_type is free text (no CHECK constraint, no enum): only the existing rows change.
    op.execute("UPDATE follow_up SET task_type = 'campaign' "
               "WHERE source = 'campaign' AND task_type = 'other'")


def downgrade():
    op.execute("UPDATE follow_up SET task_type = 'other' "
               "WHERE source = 'campaign' AND task_type = 'campaign'")
    op.drop_index("ix_campaign_message_work", table_name="campaign_message")
    op.drop_table("campaign_message")
