"""Migration 0024 lets batches be "interrupted" and gives them a heartbeat, on a database that
holds batches.

Guards: a batch stuck "running" whose job run failed (what a killed work horse left before) is
"interrupted" after the upgrade, a running batch whose run is alive stays as it is, the new
status and the heartbeat can be written, the kind and mode checks still hold (SQLite rebuilds
the table), and the downgrade gives interrupted batches back as "running" and refuses the new
status again.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from backoffice.extensions import db
from models.base import utcnow
from tests.support.services import migration_app, migration_module

MIGRATION = migration_module("0024_import_interrupted")
BATCH = sa.table("import_batch", *(sa.column(name) for name in (
    "id", "kind", "mode", "status", "filename", "file_format", "sha256", "size_bytes", "headers",
    "mapping", "create_fields", "rows_done", "created_count", "updated_count", "unchanged_count",
    "rejected_count", "checkpoint_row", "needs_approval", "cancel_requested", "created_at",
    "updated_at", "job_run_id")))
RUN = sa.table("job_run", *(sa.column(name) for name in ("id", "name", "status", "done",
                                                         "created_at")))


def _batch(connection, status="running", run=None, kind="customers") -> int:
    return connection.execute(sa.insert(BATCH).values(
        kind=kind, mode="skip_bad", status=status, filename="m.csv", file_format="csv",
        sha256="0" * 64, size_bytes=1, headers="[]", mapping="{}", create_fields=False,
        rows_done=0, created_count=0, updated_count=0, unchanged_count=0, rejected_count=0,
        checkpoint_row=41, needs_approval=False, cancel_requested=False, created_at=utcnow(),
        updated_at=utcnow(), job_run_id=run).returning(BATCH.c.id)).scalar_one()


def _run(connection, status) -> int:
    return connection.execute(sa.insert(RUN).values(
        name="jobs.imports.commit", status=status, done=0, created_at=utcnow())
        .returning(RUN.c.id)).scalar_one()


def _statuses(app) -> dict:
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT id, status FROM import_batch")).all()
        db.session.remove()
        return dict(rows)


def test_upgrade_interrupts_batches_of_failed_runs_and_downgrade_undoes_it(tmp_path):
    with migration_app(tmp_path) as app:
        with app.app_context():
            upgrade(revision="0023_import_files_sealed")
            connection = db.session.connection()
            dead = _batch(connection, run=_run(connection, "failed"))
            alive = _batch(connection, run=_run(connection, "running"))
            queued_dead = _batch(connection, status="queued", run=_run(connection, "failed"))
            done = _batch(connection, status="committed", run=_run(connection, "failed"))
            db.session.commit()
            upgrade(revision=MIGRATION.revision)
        assert _statuses(app) == {dead: "interrupted", alive: "running",
                                  queued_dead: "interrupted", done: "committed"}
        with app.app_context():
            connection = db.session.connection()
            written = _batch(connection, status="interrupted")
            connection.execute(sa.text("UPDATE import_batch SET heartbeat_at = :now"),
                               {"now": utcnow()})
            db.session.commit()
            for bad in ({"status": "stuck"}, {"kind": "bogus"}):
                with pytest.raises(sa.exc.IntegrityError):
                    _batch(db.session.connection(), **bad)
                db.session.rollback()
            downgrade(revision="0023_import_files_sealed")
        assert _statuses(app) == {dead: "running", alive: "running", queued_dead: "running",
                                  done: "committed", written: "running"}
        with app.app_context():
            with pytest.raises(sa.exc.IntegrityError):
                _batch(db.session.connection(), status="interrupted")
            db.session.rollback()
            columns = {c["name"] for c in sa.inspect(db.engine).get_columns("import_batch")}
            assert "heartbeat_at" not in columns
            db.session.remove()
