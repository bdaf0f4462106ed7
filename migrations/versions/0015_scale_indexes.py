"""Scale: dashboard summary table and indexes for the list screens at a million customers

Revision ID: 0015_scale_indexes
Revises: 0009_custom_field_indexes

On PostgreSQL, customer names also get an index on ``lower(name)`` with pattern ops, the one the
list's "starts with" filter (``lower(name) LIKE 'x%'``) can use whatever the database collation.
On a loaded production database run this migration in a quiet hour: index builds lock writes on
their table while they run.
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_scale_indexes"
down_revision = "0009_custom_field_indexes"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_audit_log_action_id", "audit_log", ["action", "id"]),
    ("ix_audit_log_actor_username_id", "audit_log", ["actor_username", "id"]),
    ("ix_audit_log_actor_id_id", "audit_log", ["actor_id", "id"]),
    ("ix_audit_log_customer_id_id", "audit_log", ["customer_id", "id"]),
    ("ix_follow_up_due_at", "follow_up", ["due_at"]),
)
NAME_PREFIX = "ix_customer_name_prefix"


def upgrade():
    op.create_table(
        "dashboard_summary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("dim", sa.String(length=60), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("staff_role", sa.String(length=8), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dashboard_summary_metric_branch", "dashboard_summary",
                    ["metric", "branch_id"])
    op.create_index("ix_dashboard_summary_metric_staff", "dashboard_summary",
                    ["metric", "staff_id"])
    # IF NOT EXISTS: on a big database an operator may build them beforehand (CONCURRENTLY,
    # without blocking writes) and then run this migration.
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, if_not_exists=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX IF NOT EXISTS {NAME_PREFIX} ON customer "
                   "(lower(name) text_pattern_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {NAME_PREFIX}")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_dashboard_summary_metric_staff", table_name="dashboard_summary")
    op.drop_index("ix_dashboard_summary_metric_branch", table_name="dashboard_summary")
    op.drop_table("dashboard_summary")
