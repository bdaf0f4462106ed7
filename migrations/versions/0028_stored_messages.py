"""import batch messages stored as message ids and parameters (``backoffice.stored_text``): text

Revision ID: 0028_stored_messages
Revises: 0027_perf_config_version

A batch's message is shown later to readers of either language, so it is stored as the message
id and its parameters, which is longer than the translated sentence was: the column becomes text.
Existing messages stay as they are (shown as written).
"""
import sqlalchemy as sa
from alembic import op

revision = "0028_stored_messages"
down_revision = "0027_perf_config_version"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("import_batch") as batch:
        batch.alter_column("message", type_=sa.Text(), existing_type=sa.String(500),
                           existing_nullable=True)


def downgrade():
    op.execute("UPDATE import_batch SET message = substr(message, 1, 500)")
    with op.batch_alter_table("import_batch") as batch:
        batch.alter_column("message", type_=sa.String(500), existing_type=sa.Text(),
                           existing_nullable=True)
