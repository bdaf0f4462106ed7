"""``flask crm imports list | show | resume | cancel | revert | sweep``: batches from a shell.

What an operator needs after a crash, without a browser and without Python: see which batches
are interrupted (reading a batch notices a dead job, as the screen does), resume one (in this
process, or ``--queue`` for the workers), abandon it, or revert what it wrote. The commands act
as the system (shell access to a configured server), like ``flask crm import``; the operation
log records each with no acting user. Output is JSON (``list``: one line per batch), so that
scripts can read it.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
import json
import sys

import click
from flask.cli import with_appcontext


def _echo(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def _batch(session, batch_id: int):
    from backoffice.imports import liveness
    from models.imports import ImportBatch

    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise click.ClickException(f"there is no import batch {batch_id}")
    return liveness.refresh(session, batch)


def _refused(refused) -> click.ClickException:
    return click.ClickException("; ".join(str(m) for m in refused.errors.values()))


def describe(session, batch) -> dict:
    """A batch as ``show`` prints it: counts, where it stands, and what may be done next."""
    from backoffice.imports import pipeline, states
    from backoffice.imports.revert import revertible
    from models.jobs import JobRun

    run = session.get(JobRun, batch.job_run_id) if batch.job_run_id else None
    actions = [name for name, allowed in (
        ("resume", states.may_resume(batch)), ("cancel", states.may_cancel(batch)),
        ("revert", revertible(batch)), ("dry-run", states.may_dry_run(batch))) if allowed]
    return {**pipeline.summary(batch), "filename": batch.filename,
            "checkpoint_row": batch.checkpoint_row, "rows_done": batch.rows_done,
            "heartbeat_at": batch.heartbeat_at, "started_at": batch.started_at,
            "finished_at": batch.finished_at, "cancel_requested": batch.cancel_requested,
            "job_run": ({"id": run.id, "status": run.status} if run is not None else None),
            "actions": actions}


@click.command("list")
@click.option("--status", default=None, help="Only batches in this status (e.g. interrupted).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@with_appcontext
def list_command(status, limit):
    """The latest batches, newest first (active ones whose job died shown as interrupted)."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.imports import liveness, states
    from models.imports import ImportBatch

    session = db.session
    for batch in session.execute(select(ImportBatch).where(
            ImportBatch.status.in_(states.ACTIVE))).scalars().all():
        liveness.refresh(session, batch)
    query = select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)
    if status:
        query = query.where(ImportBatch.status == status)
    for batch in session.execute(query).scalars():
        _echo({"batch_id": batch.id, "status": batch.status, "kind": batch.kind,
               "mode": batch.mode, "file": batch.filename, "rows": batch.total_rows,
               "rows_done": batch.rows_done, "checkpoint_row": batch.checkpoint_row,
               "created": batch.created_count, "updated": batch.updated_count,
               "rejected": batch.rejected_count, "updated_at": batch.updated_at})


@click.command("show")
@click.argument("batch_id", type=int)
@with_appcontext
def show_command(batch_id):
    """One batch: status, counts, checkpoint, heartbeat, its job, and the actions open to it."""
    from backoffice.extensions import db

    _echo(describe(db.session, _batch(db.session, batch_id)))


@click.command("resume")
@click.argument("batch_id", type=int)
@click.option("--queue", "to_queue", is_flag=True,
              help="Hand the run to the workers instead of running it in this process.")
@with_appcontext
def resume_command(batch_id, to_queue):
    """Resume an interrupted batch: skip-bad mode after its checkpoint, atomic mode from the
    start (nothing of the interrupted run was kept)."""
    from backoffice.extensions import db
    from backoffice.imports import pipeline, service

    session = db.session
    batch = _batch(session, batch_id)
    try:
        service.resume(session, batch, None)
    except service.ImportRefused as refused:
        raise _refused(refused) from None
    if to_queue:
        from jobs.queue import enqueue

        run = enqueue("jobs.imports.commit", batch_id, description=_l("Import #%(batch)s: %(step)s", batch=batch_id, step=_l("resume")))
        session.expire_all()
        batch = session.get(type(batch), batch_id)
        if batch.job_run_id is None and batch.status == "queued":
            batch.job_run_id = run.id
            session.commit()
        _echo({**describe(session, batch), "queued_job_run": run.id})
        return
    result = pipeline.commit(session, batch_id)
    _echo(result)
    if result["status"] != "committed":
        sys.exit(1)


@click.command("cancel")
@click.argument("batch_id", type=int)
@with_appcontext
def cancel_command(batch_id):
    """Cancel a batch (abandon an interrupted one). A running job stops after its current
    chunk; chunks committed in skip-bad mode are kept and can be reverted."""
    from backoffice.extensions import db
    from backoffice.imports import service

    session = db.session
    batch = _batch(session, batch_id)
    try:
        status = service.cancel(session, batch, None)
    except service.ImportRefused as refused:
        raise _refused(refused) from None
    note = ("cancellation requested: the job stops after its current chunk"
            if status in ("queued", "running") else None)
    _echo({**describe(session, batch), "note": note})


@click.command("revert")
@click.argument("batch_id", type=int)
@with_appcontext
def revert_command(batch_id):
    """Revert what a batch wrote. When a later batch changed some of its rows, nothing is
    written and the later batch to revert first is named."""
    from backoffice.errors import WriteRefused
    from backoffice.extensions import db
    from backoffice.imports import revert as reverting

    session = db.session
    _batch(session, batch_id)
    try:
        result = reverting.revert(session, batch_id)
    except reverting.Blocked as blocked:
        _echo(blocked.result())
        click.echo(blocked.errors["status"], err=True)
        sys.exit(1)
    except WriteRefused as refused:
        raise _refused(refused) from None
    _echo(result)
    if result["status"] != "reverted":
        sys.exit(1)


@click.command("sweep")
@with_appcontext
def sweep_command():
    """Mark interrupted every running batch whose job stopped or whose heartbeat is older than
    ``CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS``; meant for a cron entry every few minutes."""
    from backoffice.extensions import db
    from backoffice.imports import liveness

    _echo({"interrupted": liveness.sweep(db.session)})


COMMANDS = (list_command, show_command, resume_command, cancel_command, revert_command,
            sweep_command)
