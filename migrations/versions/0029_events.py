"""the event outbox: domain_event and domain_event_handled

Revision ID: 0029_events
Revises: 0028_stored_messages

Features raise events into ``domain_event`` in the transaction of the change; consumers
(automation rules, webhooks) mark each event they handled in ``domain_event_handled``. New
tables only: existing data is untouched.
"""
import sqlalchemy as sa
from alembic import op

revision = "0029_events"
down_revision = "0028_stored_messages"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "domain_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("entity_id", sa.Integer()),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer.id", name="fk_domain_event_customer_id_customer",
                                ondelete="CASCADE")),
        sa.Column("branch_id", sa.Integer(),
                  sa.ForeignKey("branch.id", name="fk_domain_event_branch_id_branch",
                                ondelete="SET NULL")),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("occurrence", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("name", "occurrence", name="uq_domain_event_occurrence"),
    )
    op.create_index("ix_domain_event_name_id", "domain_event", ["name", "id"])
    op.create_index("ix_domain_event_customer_id", "domain_event", ["customer_id"])
    op.create_table(
        "domain_event_handled",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("consumer", sa.String(80), nullable=False),
        sa.Column("event_id", sa.Integer(),
                  sa.ForeignKey("domain_event.id", name="fk_domain_event_handled_event_id",
                                ondelete="CASCADE"), nullable=False),
        sa.Column("handled_at", sa.DateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text()),
        sa.UniqueConstraint("consumer", "event_id", name="uq_domain_event_handled"),
    )
    op.create_index("ix_domain_event_handled_event_id", "domain_event_handled", ["event_id"])


def downgrade():
    op.drop_index("ix_domain_event_handled_event_id", table_name="domain_event_handled")
    op.drop_table("domain_event_handled")
    op.drop_index("ix_domain_event_customer_id", table_name="domain_event")
    op.drop_index("ix_domain_event_name_id", table_name="domain_event")
    op.drop_table("domain_event")
