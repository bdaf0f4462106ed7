"""outbound webhooks: endpoints, deliveries and their attempts

Revision ID: 0033_webhooks
Revises: 0028_stored_messages

New tables only, so an existing database upgrades without touching its data. A delivery names
the outbox event it carries by id without a foreign key: the outbox may be pruned while the
delivery record stays.
"""
import sqlalchemy as sa
from alembic import op

revision = "0033_webhooks"
down_revision = "0028_stored_messages"
branch_labels = None
depends_on = None


def _uid():
    return sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql")


def upgrade():
    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("record_uid", _uid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("role_id", sa.Integer(), sa.ForeignKey("ab_role.id", ondelete="SET NULL")),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(),
                  sa.ForeignKey("ab_user.id", ondelete="SET NULL")),
        sa.UniqueConstraint("record_uid"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("record_uid", _uid(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), sa.ForeignKey("webhook.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("event_name", sa.String(80), nullable=False),
        sa.Column("event_id", sa.Integer()),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("replay_of_id", sa.Integer(),
                  sa.ForeignKey("webhook_delivery.id", ondelete="SET NULL")),
        sa.Column("body_enc", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime()),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("claimed_at", sa.DateTime()),
        sa.Column("sent_at", sa.DateTime()),
        sa.Column("response_code", sa.SmallInteger()),
        sa.Column("response_excerpt", sa.String(500)),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(),
                  sa.ForeignKey("ab_user.id", ondelete="SET NULL")),
        sa.UniqueConstraint("record_uid"),
        sa.CheckConstraint("status IN ('pending','sending','retry','delivered','failed',"
                           "'cancelled')", name="ck_webhook_delivery_status"),
    )
    op.create_index("ix_webhook_delivery_due", "webhook_delivery",
                    ["status", "next_attempt_at"])
    op.create_index("ix_webhook_delivery_webhook", "webhook_delivery", ["webhook_id", "id"])
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("delivery_id", sa.Integer(),
                  sa.ForeignKey("webhook_delivery.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("response_code", sa.SmallInteger()),
        sa.Column("error", sa.String(500)),
    )
    op.create_index("ix_webhook_attempt_delivery_id", "webhook_attempt", ["delivery_id"])


def downgrade():
    op.drop_index("ix_webhook_attempt_delivery_id", table_name="webhook_attempt")
    op.drop_table("webhook_attempt")
    op.drop_index("ix_webhook_delivery_webhook", table_name="webhook_delivery")
    op.drop_index("ix_webhook_delivery_due", table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_table("webhook")
