"""stored import files compressed with lz4 where PostgreSQL has it (it was pglz)

Revision ID: 0018_import_file_lz4
Revises: 0017_campaign_messages

An upload kept in the database (``import_file.content``, without ``CRM_IMPORT_FOLDER``) is
compressed by PostgreSQL as it is stored. pglz took 0.12-0.16 s of the server's time to store a
100,000-row CSV (13 MB, kept as 2.3 MB), lz4 0.05 s (kept as 2.8 MB) and it reads back faster;
the upload is part of every import's time. Only files stored from now on are compressed with
lz4: those already stored stay as they are and read as before (PostgreSQL knows each value's
method). PostgreSQL 14 or newer built with lz4 (``default_toast_compression`` offers it) is
needed; elsewhere (SQLite, an older server, a build without lz4) nothing changes.
"""
from alembic import op

from models.base import lz4_available

revision = "0018_import_file_lz4"
down_revision = "0017_campaign_messages"
branch_labels = None
depends_on = None


def upgrade():
    if lz4_available(op.get_bind()):
        op.execute("ALTER TABLE import_file ALTER COLUMN content SET COMPRESSION lz4")


def downgrade():
    if lz4_available(op.get_bind()):
        op.execute("ALTER TABLE import_file ALTER COLUMN content SET COMPRESSION DEFAULT")
