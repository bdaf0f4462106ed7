"""Training a churn model version as a job, started from the churn model screen.

Thin on purpose: the use case is ``backoffice.churn.service.train_model`` (the command line calls
the same function); this module only turns its progress lines into ``job.meta`` / ``job_run``
progress, stores what the version page needs beyond the training result (label definition, data
dates), logs the outcome, and turns a refusal (unknown target, too few leavers) into a result the
screen shows in words instead of a failed run with a traceback.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice import stored_text

# Progress is counted in the training's own log lines (target, split, search rounds, chosen
# hyperparameters, calibration, baseline and figures); the bar reaches the end only when the
# version is stored.
STEPS = 10


class _Steps:
    """A ``log`` callable for the use case: each line is one step, its text the message (a lazy
    translation, which the runner stores as its message id)."""

    def __init__(self, progress):
        self.progress, self.done = progress, 0
        progress.update(0, total=STEPS, message=_l("Extracting features"))

    def __call__(self, line) -> None:
        self.done = min(self.done + 1, STEPS - 1)
        self.progress.update(self.done, total=STEPS, message=line)


def train_model(*, progress, target: str | None = None, positive: str | None = None,
                features: list | None = None, created_by_id: int | None = None,
                sample: int | None = None, seed: int = 42) -> dict:
    """Train, evaluate and store the next (inactive) version; returns its figures, or
    ``{"refused": why}`` when the data or the choices cannot train a model (``why`` kept by
    ``backoffice.stored_text``: shown with ``stored_text.show``)."""
    from backoffice.audit.log import record
    from backoffice.churn import dataset, service, training, versions
    from backoffice.extensions import db
    from models import Staff
    from models.base import utcnow

    actor = db.session.get(Staff, created_by_id) if created_by_id else None
    as_of = utcnow()
    steps = _Steps(progress)
    asked = {"target": target or "closed", "positive": positive or None,
             "features": list(features or [])}
    try:
        row, result = service.train_model(db.session, target=target, positive=positive or None,
                                          features=features or None, seed=seed, as_of=as_of,
                                          sample=sample, created_by_id=created_by_id, log=steps)
    except (dataset.FeatureError, training.TrainingError) as exc:
        # The reason is a lazy translation: the run's message and result keep its message id
        # (read in each reader's language); the operation log, hash-chained and meant to read
        # the same for every auditor, keeps its text in the job's (the default) language.
        db.session.rollback()
        record("churn_model_train", entity="ChurnModel", actor=actor,
               detail={**asked, "refused": str(exc)})
        db.session.commit()
        progress.update(STEPS, total=STEPS, message=exc.message)
        return {"refused": stored_text.keep(exc.message)}
    row.training_config = {**(row.training_config or {}),
                           **versions.training_notes(db.session, target=target,
                                                     positive=positive, as_of=as_of)}
    record("churn_model_train", entity="ChurnModel", entity_id=row.id, actor=actor,
           detail={**asked, "version": row.version, "roc_auc": result.metrics.get("roc_auc"),
                   "baseline_roc_auc": result.baseline_metrics.get("roc_auc")})
    db.session.commit()
    progress.update(STEPS, total=STEPS,
                    message=_l("Stored as version %(version)s", version=row.version))
    return {"model_id": row.id, "version": row.version, "metrics": result.metrics,
            "baseline_metrics": result.baseline_metrics}
