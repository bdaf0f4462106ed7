"""login policy: lockout time, confidentiality agreement and password change time on staff

Revision ID: 0004_login_policy
Revises: 0001_initial
Create Date: 2026-12-01 09:00:00

Existing staff keep working: nobody is locked, and everyone is asked to accept the
confidentiality agreement (保密协议) at their next login, because no acceptance is on record.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004_login_policy"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("confidentiality_accepted_at", sa.DateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("confidentiality_accepted_at")
        batch_op.drop_column("locked_until")
