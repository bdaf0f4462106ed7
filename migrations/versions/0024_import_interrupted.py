"""import batches can be "interrupted", and carry the heartbeat of the job running them

Revision ID: 0024_import_interrupted
Revises: 0023_import_files_sealed

A batch whose job died (the work horse killed, the machine lost) used to stay "running" for
ever. Such a batch is now "interrupted" (resumable, or abandoned, or reverted), and a running job
writes ``import_batch.heartbeat_at`` so that a lost machine is noticed without a worker's word.

Batches already stuck in "running" or "queued" whose job run is recorded as failed become
"interrupted" here, so a database upgraded after a crash shows them as they are. The downgrade
puts interrupted batches back to "running" (the state the old code left them in) before the
constraint narrows.
"""
import sqlalchemy as sa
from alembic import op

revision = "0024_import_interrupted"
down_revision = "0023_import_files_sealed"
branch_labels = None
depends_on = None

STATUSES_BEFORE = ("uploaded", "dry_run", "pending_approval", "approved", "queued", "running",
                   "committed", "failed", "cancelled", "rejected", "reverted")
STATUSES_AFTER = STATUSES_BEFORE + ("interrupted",)


def _check(statuses) -> str:
    return f"status IN ({','.join(repr(s) for s in statuses)})"


def _statuses(statuses) -> None:
    with op.batch_alter_table("import_batch") as batch:
        batch.drop_constraint("ck_import_batch_status", type_="check")
        batch.create_check_constraint("ck_import_batch_status", _check(statuses))


def upgrade():
    with op.batch_alter_table("import_batch") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    _statuses(STATUSES_AFTER)
    op.execute(
        "UPDATE import_batch SET status = 'interrupted' WHERE status IN ('running', 'queued') "
        "AND job_run_id IN (SELECT id FROM job_run WHERE status = 'failed')")


def downgrade():
    op.execute("UPDATE import_batch SET status = 'running' WHERE status = 'interrupted'")
    _statuses(STATUSES_BEFORE)
    with op.batch_alter_table("import_batch") as batch:
        batch.drop_column("heartbeat_at")
