"""Noticing that the job of a queued or running batch is dead, and saying so: "interrupted".

A job can die without a word from itself: its work horse killed (SIGKILL, out of memory), its
machine lost. Two signs are read:

* the job run is recorded as failed (the runner records an exception, the worker a dead work
  horse, and both call :func:`job_failed` through ``jobs.imports._on_failure`` at once);
* the batch's heartbeat (``import_batch.heartbeat_at``, written by the running pipeline on a
  connection of its own) is older than ``CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS``: nobody is left
  to record anything, so the reader decides. :func:`refresh` runs when a batch is read on the
  screens or the command line, :func:`sweep` from ``flask crm imports sweep`` (cron) or the
  job ``jobs.imports.sweep``.

The change is one conditional UPDATE (still active, heartbeat still old), so a job that beats
again in between, or two readers at once, cannot both win. On SQLite a job that still holds the
database's write lock is alive by definition: the UPDATE cannot get the lock, gives up quickly,
and the batch stays as it is.
"""
from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError

from backoffice import stored_text
from backoffice.audit import log as oplog
from backoffice.imports.pipeline import kept_rows
from backoffice.imports.states import ACTIVE
from backoffice.notifications.sources import import_finished
from models.base import utcnow
from models.imports import ImportBatch
from models.jobs import JobRun

log = logging.getLogger(__name__)


def heartbeat_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=float(
        current_app.config["CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS"]))


def last_beat(batch: ImportBatch):
    return batch.heartbeat_at or batch.updated_at


def dead_reason(session, batch: ImportBatch) -> str | None:
    """Why the job of an active ``batch`` is dead, or None while it may be alive."""
    if batch.status not in ACTIVE:
        return None
    run = session.get(JobRun, batch.job_run_id) if batch.job_run_id else None
    if run is not None and run.status == "failed":
        return _l("its job stopped: %(error)s", error=_last_line(run.error))
    beat = last_beat(batch)
    if batch.status == "running" and beat is not None and utcnow() - beat > heartbeat_timeout():
        return _l("no heartbeat from its job since %(time)s UTC (its process or machine "
                  "is gone)", time=f"{beat:%Y-%m-%d %H:%M:%S}")
    return None


def _last_line(error: str | None):
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else _l("no reason recorded")


def mark_interrupted(session, batch_id: int, reason: str, stale_before=None) -> bool:
    """Make an active batch "interrupted" (with ``stale_before``: only if its heartbeat is still
    older than that). True when this call changed it; the operation log records it."""
    from jobs.runner import _short_sqlite_busy_timeout

    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        return False
    kept = kept_rows(batch)
    message = stored_text.keep(_l("Interrupted: %(reason)s. %(kept)s Resume it, or abandon it.",
                                  reason=reason, kept=kept))
    conditions = [ImportBatch.id == batch_id, ImportBatch.status.in_(ACTIVE)]
    if stale_before is not None:
        conditions.append(or_(ImportBatch.heartbeat_at < stale_before, (
            ImportBatch.heartbeat_at.is_(None) & (ImportBatch.updated_at < stale_before))))
    try:
        session.rollback()
        with _short_sqlite_busy_timeout(session.connection(), 100):
            changed = session.execute(update(ImportBatch).where(*conditions).values(
                status="interrupted", message=message, finished_at=utcnow(),
                cancel_requested=False).execution_options(synchronize_session=False)).rowcount
            if changed:
                oplog.record("import_interrupted", entity="ImportBatch", entity_id=batch_id,
                             detail={"reason": str(reason)[:300],
                                                  "checkpoint_row": batch.checkpoint_row})
                import_finished(session, batch, "interrupted")
            session.commit()
    except OperationalError:  # SQLite: the job still holds the write lock, so it is alive
        session.rollback()
        return False
    session.expire_all()
    return bool(changed)


def refresh(session, batch: ImportBatch) -> ImportBatch:
    """``batch`` as it stands, made "interrupted" first if its job is dead."""
    reason = dead_reason(session, batch)
    if reason is None:
        return batch
    stale = None if _run_failed(session, batch) else utcnow() - heartbeat_timeout()
    batch_id = batch.id
    mark_interrupted(session, batch_id, reason, stale_before=stale)
    return session.get(ImportBatch, batch_id)


def _run_failed(session, batch) -> bool:
    run = session.get(JobRun, batch.job_run_id) if batch.job_run_id else None
    return run is not None and run.status == "failed"


def sweep(session) -> list[int]:
    """Every active batch whose job is dead, made "interrupted"; their ids."""
    ids = session.execute(select(ImportBatch.id).where(ImportBatch.status.in_(ACTIVE))
                          .order_by(ImportBatch.id)).scalars().all()
    changed = []
    for batch_id in ids:
        batch = session.get(ImportBatch, batch_id)
        if batch is not None and refresh(session, batch).status == "interrupted":
            changed.append(batch_id)
    return changed


def job_failed(session, job_run_id: int, reason: str) -> list[int]:
    """The worker or the runner says job run ``job_run_id`` failed: its active batches are
    interrupted at once (no waiting for the heartbeat)."""
    ids = session.execute(select(ImportBatch.id).where(
        ImportBatch.job_run_id == job_run_id, ImportBatch.status.in_(ACTIVE))).scalars().all()
    return [batch_id for batch_id in ids
            if mark_interrupted(session, batch_id, _l("its job stopped: %(error)s",
                                                           error=_last_line(reason)))]


__all__ = ["dead_reason", "heartbeat_timeout", "job_failed", "mark_interrupted", "refresh",
           "sweep"]
