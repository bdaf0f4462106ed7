"""bulk imports: batches, their files, mapping templates, undo data; export approvals (issue 5)

Revision ID: 0011_imports
Revises: 0009_custom_field_indexes

New tables only, so it upgrades a database that already holds data.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011_imports"
down_revision = "0009_custom_field_indexes"
branch_labels = None
depends_on = None

KINDS = "'customers','accounts','transactions','interactions'"
STATUSES = ("'uploaded','dry_run','pending_approval','approved','queued','running','committed',"
            "'failed','cancelled','rejected','reverted'")


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _user(name):
    return sa.Column(name, sa.Integer(), sa.ForeignKey("ab_user.id", ondelete="SET NULL"),
                     nullable=True)


def upgrade():
    op.create_table(
        "import_template",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("columns", _json(), nullable=False),
        _user("created_by_id"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_import_template_kind"),
        sa.UniqueConstraint("kind", "name", name="uq_import_template_kind_name"),
    )
    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=10), nullable=False),
        sa.Column("sheet", sa.String(length=100), nullable=True),
        sa.Column("encoding", sa.String(length=20), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("headers", _json(), nullable=False),
        sa.Column("mapping", _json(), nullable=False),
        sa.Column("template_id", sa.Integer(),
                  sa.ForeignKey("import_template.id", ondelete="SET NULL"), nullable=True),
        sa.Column("create_fields", sa.Boolean(), nullable=False),
        sa.Column("duplicate_of_id", sa.Integer(),
                  sa.ForeignKey("import_batch.id", ondelete="SET NULL"), nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=True),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("updated_count", sa.Integer(), nullable=False),
        sa.Column("unchanged_count", sa.Integer(), nullable=False),
        sa.Column("rejected_count", sa.Integer(), nullable=False),
        sa.Column("rows_per_second", sa.Integer(), nullable=True),
        sa.Column("checkpoint_row", sa.Integer(), nullable=False),
        sa.Column("dry_run", _json(), nullable=True),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("approval_reason", sa.String(length=255), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("job_run_id", sa.Integer(), sa.ForeignKey("job_run.id", ondelete="SET NULL"),
                  nullable=True),
        _user("uploaded_by_id"),
        _user("approved_by_id"),
        _user("reverted_by_id"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("committed_at", sa.DateTime(), nullable=True),
        sa.Column("reverted_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_import_batch_kind"),
        sa.CheckConstraint("mode IN ('atomic','skip_bad')", name="ck_import_batch_mode"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_import_batch_status"),
    )
    op.create_index("ix_import_batch_sha256", "import_batch", ["sha256"])
    op.create_index("ix_import_batch_status_created", "import_batch", ["status", "created_at"])
    op.create_index("ix_import_batch_uploaded_by", "import_batch",
                    ["uploaded_by_id", "created_at"])
    op.create_table(
        "import_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(),
                  sa.ForeignKey("import_batch.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("role IN ('upload','report')", name="ck_import_file_role"),
        sa.UniqueConstraint("batch_id", "role", name="uq_import_file_batch_role"),
    )
    op.create_table(
        "import_row_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(),
                  sa.ForeignKey("import_batch.id", ondelete="CASCADE"), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=6), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("previous", _json(), nullable=True),
        sa.Column("after", _json(), nullable=True),
        sa.CheckConstraint("op IN ('create','update')", name="ck_import_row_change_op"),
        sa.UniqueConstraint("batch_id", "entity_id", name="uq_import_row_change_batch_entity"),
    )
    op.create_table(
        "export_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=50), nullable=False),
        sa.Column("fmt", sa.String(length=4), nullable=False),
        sa.Column("args", _json(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        _user("requested_by_id"),
        _user("decided_by_id"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('pending','approved','rejected','used')",
                           name="ck_export_request_status"),
    )
    op.create_index("ix_export_request_status", "export_request", ["status", "created_at"])


def downgrade():
    op.drop_index("ix_export_request_status", table_name="export_request")
    op.drop_table("export_request")
    op.drop_table("import_row_change")
    op.drop_table("import_file")
    op.drop_index("ix_import_batch_uploaded_by", table_name="import_batch")
    op.drop_index("ix_import_batch_status_created", table_name="import_batch")
    op.drop_index("ix_import_batch_sha256", table_name="import_batch")
    op.drop_table("import_batch")
    op.drop_table("import_template")
