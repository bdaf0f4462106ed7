"""Which action a batch allows in which state: one table for the service, the screens and the CLI.

A batch's counts mean the dry run's until the commit starts writing, then what the commit wrote;
a skip-bad batch that stopped part-way (cancelled, interrupted, failed) holds committed chunks
up to its checkpoint, and resuming adds to its counts. A dry run on such a batch, or on one that
is committed, running, queued or reverted, would overwrite counts that describe written rows (a
resumed commit then reported more rows created than its file holds): it is refused, here, for
every caller. The same goes for a new column mapping.

An "interrupted" batch is one whose job died (``backoffice.imports.liveness``): it is resumed
(skip-bad: after its checkpoint; atomic: from the start, as nothing of it was kept), abandoned
(it ends "cancelled", keeping what was written, which stays revertible), or reverted.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

# Statuses in which a job is (or should be) working on the batch.
ACTIVE = ("queued", "running")
DRY_RUN_FROM = ("uploaded", "dry_run", "failed", "cancelled", "interrupted")
COMMIT_FROM = ("uploaded", "dry_run", "approved", "failed", "cancelled")
RESUME_FROM = ("interrupted",)
CANCEL_FROM = ("queued", "running", "pending_approval", "uploaded", "dry_run", "interrupted")
# Stopped part-way with chunks kept: revertible like a committed batch.
PARTIAL = ("cancelled", "interrupted", "failed")


def has_written_rows(batch) -> bool:
    """Rows of this batch are in the database although it is not committed (skip-bad chunks)."""
    return batch.mode == "skip_bad" and bool(batch.checkpoint_row) and batch.status in PARTIAL


def dry_run_refusal(batch):
    """Why a dry run (or a new mapping) may not run on ``batch`` now; None when it may."""
    if batch.status in ("committed", "reverted"):
        return _l("This batch is %(status)s: a dry run would overwrite the counts of what it "
                  "wrote. Upload the file again for a new dry run.", status=batch.status)
    if batch.status in ACTIVE:
        return _l("This batch is %(status)s: wait for it to end, or cancel it, before a dry "
                  "run.", status=batch.status)
    if has_written_rows(batch):
        return _l("Rows up to row %(row)s of this batch are already written: resume it, "
                  "revert it, or upload the file again for a new dry run.",
                  row=batch.checkpoint_row)
    if batch.status not in DRY_RUN_FROM:
        return _l("A dry run is not possible while the batch is %(status)s.",
                  status=batch.status)
    return None


def may_dry_run(batch) -> bool:
    return dry_run_refusal(batch) is None


def may_commit(batch) -> bool:
    """A stopped skip-bad batch's commit carries on after its checkpoint, like a resume."""
    return batch.status in COMMIT_FROM


def may_resume(batch) -> bool:
    return batch.status in RESUME_FROM


def may_cancel(batch) -> bool:
    return batch.status in CANCEL_FROM
