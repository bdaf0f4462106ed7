"""change requests for maker-checker review (信息录入审核)

Revision ID: 0005_change_requests
Revises: 0001_initial

A new table only: existing customers need nothing, since a change request exists only once a
maker proposes something after the upgrade.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_change_requests"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "change_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_uid", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("maker_id", sa.Integer(), nullable=False),
        sa.Column("checker_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('create','update')", name="ck_change_request_kind"),
        sa.CheckConstraint("status IN ('pending','approved','rejected','withdrawn')",
                           name="ck_change_request_status"),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"]),
        sa.ForeignKeyConstraint(["checker_id"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["maker_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_uid"),
    )
    with op.batch_alter_table("change_request", schema=None) as batch_op:
        batch_op.create_index("ix_change_request_customer_id", ["customer_id"], unique=False)
        batch_op.create_index("ix_change_request_maker_id", ["maker_id"], unique=False)
        batch_op.create_index("ix_change_request_status_branch", ["status", "branch_id"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("change_request", schema=None) as batch_op:
        batch_op.drop_index("ix_change_request_status_branch")
        batch_op.drop_index("ix_change_request_maker_id")
        batch_op.drop_index("ix_change_request_customer_id")
    op.drop_table("change_request")
