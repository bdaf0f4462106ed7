"""Deleting stored import files after ``CRM_IMPORT_FILE_RETENTION_DAYS``.

An upload and its error report hold customer data that is needed while the batch is worked on
(dry run, commit, resume, the uploader fixing rejected rows), not for ever: ``flask crm imports
purge`` (run daily from cron, like the other ``flask crm`` housekeeping) deletes the files of
batches whose files are older than the retention, together with the shared-folder copies. The
batch row, its counts and its undo data stay (revert needs no file); a batch still queued or
running keeps its files whatever their age. Each purge is recorded in the operation log.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select

from backoffice.audit import log
from models.base import utcnow
from models.imports import ImportBatch, ImportFile

ACTIVE = ("queued", "running")


def retention_days() -> int:
    return max(0, int(current_app.config["CRM_IMPORT_FILE_RETENTION_DAYS"] or 0))


def purge(session, now: dt.datetime | None = None, days: int | None = None) -> dict:
    """Delete the files older than the retention; returns what was deleted."""
    days = retention_days() if days is None else days
    if days <= 0:
        return {"days": days, "files": 0, "batches": []}
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    rows = session.execute(select(ImportFile.id, ImportFile.batch_id, ImportFile.path).join(
        ImportBatch, ImportBatch.id == ImportFile.batch_id).where(
        ImportFile.created_at < cutoff, ImportBatch.status.not_in(ACTIVE))).all()
    for _, _, path in rows:
        if path:
            Path(path).unlink(missing_ok=True)
    ids = [file_id for file_id, _, _ in rows]
    if ids:
        session.execute(delete(ImportFile).where(ImportFile.id.in_(ids)))
    batches = sorted({batch_id for _, batch_id, _ in rows})
    log.record("import_files_purge", entity="ImportBatch", detail={
        "days": days, "files": len(ids), "batches": batches[:1000]})
    session.commit()
    return {"days": days, "files": len(ids), "batches": batches}
