"""session epoch on staff: logout, lockout, deactivation and password changes end sessions

Revision ID: 0022_session_epoch
Revises: 0021_audit_pii

Flask's session is a signed cookie and an API token a signed JWT: neither can be taken back by
itself. Each member of staff gets a counter that is stamped into their session and their tokens
when they are made and compared on every request (``backoffice.security.sessions``); raising it
ends every session and token issued before. Existing staff start at 0, so nobody is signed out
by the upgrade itself (sessions made before it carry no stamp and read as 0 too).
"""
import sqlalchemy as sa
from alembic import op

revision = "0022_session_epoch"
down_revision = "0021_audit_pii"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade():
    with op.batch_alter_table("ab_user", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
