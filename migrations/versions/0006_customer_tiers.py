"""customer tier, tier override and its reason

Revision ID: 0006_customer_tiers
Revises: 0001_initial
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_customer_tiers"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("tier_override", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("tier_override_reason", sa.String(length=255),
                                      nullable=True))
        batch_op.create_index("ix_customer_tier", ["tier"], unique=False)


def downgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_tier")
        batch_op.drop_column("tier_override_reason")
        batch_op.drop_column("tier_override")
        batch_op.drop_column("tier")
