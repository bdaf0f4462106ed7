"""in-app notifications for staff, their digest preference and the digest send ledger

Revision ID: 0030_notifications
Revises: 0028_stored_messages

New tables only: existing data is untouched, and every member of staff starts with the digest
off (no preference row).
"""
import sqlalchemy as sa
from alembic import op

revision = "0030_notifications"
down_revision = "0028_stored_messages"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("entity", sa.String(length=50), nullable=True),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("emailed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["recipient_id"], ["ab_user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["ab_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_unread", "notification", ["recipient_id", "read_at"])
    op.create_index("ix_notification_recipient", "notification", ["recipient_id", "id"])
    op.create_table(
        "notification_preference",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=10), nullable=False),
        sa.Column("digest_time", sa.Time(), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["ab_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("staff_id"),
    )
    op.create_table(
        "notification_digest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("upto_id", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["ab_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_id", "day", name="uq_notification_digest_day"),
    )
    op.create_index("ix_notification_digest_status", "notification_digest",
                    ["status", "next_attempt_at"])


def downgrade():
    op.drop_index("ix_notification_digest_status", table_name="notification_digest")
    op.drop_table("notification_digest")
    op.drop_table("notification_preference")
    op.drop_index("ix_notification_recipient", table_name="notification")
    op.drop_index("ix_notification_unread", table_name="notification")
    op.drop_table("notification")
