"""Import jobs: thin wrappers that take a batch id, run the pipeline, report progress.

``dry_run`` plans a batch and writes nothing but its result (refused on a batch whose counts
describe written rows: ``backoffice.imports.states``); ``commit`` applies it (refusing a batch
that still waits for its approval); ``revert`` undoes a committed batch. A commit whose job dies
makes its batch "interrupted" (:func:`_on_failure`, called by the runner when the job raised or
the worker saw its work horse die; ``backoffice.imports.liveness`` when the heartbeat stopped);
a resume enqueues ``commit`` again: skip-bad mode carries on after the last committed chunk,
atomic mode (which wrote nothing) runs from the start.
"""
from __future__ import annotations

from backoffice.extensions import db
from backoffice.imports import liveness, pipeline
from backoffice.imports import revert as reverting
from models.imports import ImportBatch


def dry_run(batch_id: int, *, progress) -> dict:
    return pipeline.dry_run(db.session, int(batch_id), progress=progress)


def commit(batch_id: int, *, progress) -> dict:
    batch = db.session.get(ImportBatch, int(batch_id))
    if batch is None:
        raise LookupError(f"import batch {batch_id} does not exist")
    if batch.needs_approval and batch.approved_by_id is None:
        if batch.status == "queued":  # not left "queued" with no job coming for it
            batch.status = "pending_approval"
            db.session.commit()
        return {**pipeline.summary(batch), "message": "waiting for approval"}
    if batch.status in ("committed", "reverted", "rejected"):
        return pipeline.summary(batch)  # applying a batch twice changes nothing
    return pipeline.commit(db.session, batch.id, progress=progress)


def revert(batch_id: int, user_id: int | None = None, *, progress) -> dict:
    """The revert's counts; when later batches changed rows of this one, nothing is written and
    the result names them (``blocked_by``) instead of failing the run."""
    try:
        return reverting.revert(db.session, int(batch_id), user_id=user_id, progress=progress)
    except reverting.Blocked as blocked:
        return blocked.result()


def sweep(*, progress) -> dict:
    """Active batches whose job is dead (heartbeat too old) made "interrupted"."""
    return {"interrupted": liveness.sweep(db.session)}


def _on_failure(job_run_id: int, reason: str) -> None:
    """The runner's failure hook: the batches this run was working on are interrupted now."""
    from flask import current_app, has_app_context

    from backoffice.security import scopes
    from jobs.runner import process_app

    app = current_app._get_current_object() if has_app_context() else process_app()
    with app.app_context(), scopes.as_scope(scopes.UNRESTRICTED):
        try:
            liveness.job_failed(db.session, int(job_run_id), reason)
        finally:
            db.session.remove()
