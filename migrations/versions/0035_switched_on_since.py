"""when each automation rule and webhook was last switched on: each acts on the events that
occurred from then on, not on older events still in the outbox

Revision ID: 0035_switched_on_since
Revises: 0034_merge_collaboration
"""
import sqlalchemy as sa
from alembic import op

revision = "0035_switched_on_since"
down_revision = "0034_merge_collaboration"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("automation_rule") as batch:
        batch.add_column(sa.Column("enabled_since", sa.DateTime(), nullable=True))
    with op.batch_alter_table("webhook") as batch:
        batch.add_column(sa.Column("active_since", sa.DateTime(), nullable=True))
    # Rows switched on before this column existed: from their last change (the best known).
    op.execute("UPDATE automation_rule SET enabled_since = COALESCE(approved_at, updated_at) "
               "WHERE enabled")
    op.execute("UPDATE webhook SET active_since = COALESCE(updated_at, created_at) WHERE active")


def downgrade():
    with op.batch_alter_table("webhook") as batch:
        batch.drop_column("active_since")
    with op.batch_alter_table("automation_rule") as batch:
        batch.drop_column("enabled_since")
