"""operation log: hash-chained audit_log, its head and archives; append-only on PostgreSQL

Revision ID: 0003_operation_log
Revises: 0001_initial

On PostgreSQL triggers make the log append-only for every role that does not bypass triggers:
UPDATE is refused, TRUNCATE is refused, and DELETE is refused unless the transaction has set
``crm.audit_purge`` to the id of an archive whose recorded range covers the row (what
``flask crm audit purge`` does, and only for rows it archived first). The head row may only move
forward. A superuser can still disable the triggers; the hash chain is what detects that.
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_operation_log"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
LogId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

PG_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION crm_audit_log_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    archive_id text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit_log is append-only: TRUNCATE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'audit_log is append-only: UPDATE of row % refused', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- DELETE: only rows inside the range of the archive named by the purge transaction.
    archive_id := current_setting('crm.audit_purge', true);
    IF archive_id IS NULL OR archive_id = '' OR NOT EXISTS (
        SELECT 1 FROM audit_archive a
        WHERE a.id = archive_id::integer AND OLD.id BETWEEN a.first_id AND a.last_id
    ) THEN
        RAISE EXCEPTION 'audit_log is append-only: DELETE of row % refused (not archived)', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END
$$;

CREATE OR REPLACE FUNCTION crm_audit_head_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'audit_head: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.last_id < OLD.last_id OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'audit_head may only move forward' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION crm_audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_log_guard();
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION crm_audit_head_guard();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_head_guard();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head;
DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head;
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log;
DROP FUNCTION IF EXISTS crm_audit_head_guard();
DROP FUNCTION IF EXISTS crm_audit_log_guard();
"""


def upgrade():
    op.create_table(
        "audit_log",
        sa.Column("id", LogId, autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_username", sa.String(length=128), nullable=True),
        sa.Column("actor_roles", sa.String(length=255), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=True),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_occurred_at", "audit_log", ["occurred_at"])
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_customer_id", "audit_log", ["customer_id"])
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"])
    op.create_index("ix_audit_log_ip", "audit_log", ["ip"])
    op.create_table(
        "audit_archive",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("first_id", LogId, nullable=False),
        sa.Column("last_id", LogId, nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("purged_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", LogId, nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": GENESIS}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DROP)
    op.drop_table("audit_head")
    op.drop_table("audit_archive")
    op.drop_index("ix_audit_log_ip", table_name="audit_log")
    op.drop_index("ix_audit_log_entity", table_name="audit_log")
    op.drop_index("ix_audit_log_customer_id", table_name="audit_log")
    op.drop_index("ix_audit_log_action", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_id", table_name="audit_log")
    op.drop_index("ix_audit_log_occurred_at", table_name="audit_log")
    op.drop_table("audit_log")
