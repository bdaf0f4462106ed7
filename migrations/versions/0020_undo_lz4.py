"""import undo data compressed with lz4 where PostgreSQL has it (it was pglz)

Revision ID: 0020_undo_lz4
Revises: 0019_identifier_collation

A chunk's undo data (``import_row_change``: for created records ONE row per chunk, its
``after`` holding the ids and row numbers of every record the chunk created) is written by the
import's writing connection right after the chunk's COPY, so its compression is on the
import's critical path. For a 10,000-row chunk PostgreSQL took about 10 ms to compress it with
pglz and 0.7 ms with lz4 (measured: ten such documents, 103 ms and 6.5 ms; kept as 66 and
82 KiB): about 0.1 s of a 100,000-customer import. Only values stored from now on use lz4;
those already stored read as before (PostgreSQL knows each value's method). Nothing changes
where lz4 is not available (``models.base.lz4_available``).
"""
from alembic import op

from models.base import lz4_available

revision = "0020_undo_lz4"
down_revision = "0019_identifier_collation"
branch_labels = None
depends_on = None

COLUMNS = ("previous", "after")


def upgrade():
    if lz4_available(op.get_bind()):
        op.execute("ALTER TABLE import_row_change "
                   + ", ".join(f"ALTER COLUMN {c} SET COMPRESSION lz4" for c in COLUMNS))


def downgrade():
    if lz4_available(op.get_bind()):
        op.execute("ALTER TABLE import_row_change "
                   + ", ".join(f"ALTER COLUMN {c} SET COMPRESSION DEFAULT" for c in COLUMNS))
