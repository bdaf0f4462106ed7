"""Import jobs: thin wrappers that take a batch id, run the pipeline, report progress.

``dry_run`` plans a batch and writes nothing but its result; ``commit`` applies it (refusing a
batch that still waits for its approval); ``revert`` undoes a committed batch. A commit killed
mid-way leaves its batch ``running``: enqueueing ``commit`` again resumes it (skip-bad mode, from
the last committed chunk) or runs it again from the start (atomic mode, which wrote nothing).
"""
from __future__ import annotations

from backoffice.extensions import db
from backoffice.imports import pipeline
from backoffice.imports import revert as reverting
from models.imports import ImportBatch


def dry_run(batch_id: int, *, progress) -> dict:
    return pipeline.dry_run(db.session, int(batch_id), progress=progress)


def commit(batch_id: int, *, progress) -> dict:
    batch = db.session.get(ImportBatch, int(batch_id))
    if batch is None:
        raise LookupError(f"import batch {batch_id} does not exist")
    if batch.needs_approval and batch.approved_by_id is None:
        return {**pipeline.summary(batch), "message": "waiting for approval"}
    if batch.status in ("committed", "reverted", "rejected"):
        return pipeline.summary(batch)  # applying a batch twice changes nothing
    return pipeline.commit(db.session, batch.id, progress=progress)


def revert(batch_id: int, user_id: int | None = None, *, progress) -> dict:
    return reverting.revert(db.session, int(batch_id), user_id=user_id, progress=progress)
