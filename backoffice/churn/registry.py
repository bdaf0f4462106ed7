"""Model versions in the database: store, verify and load, activate.

The artifact is pickled (joblib) by this module and nowhere else, stored in ``churn_model`` with
its SHA-256; :func:`load` recomputes the digest before unpickling and refuses a mismatch, so bytes
that did not come from :func:`store` are never executed. There is no way to load a model from a
file: a version exists only because the app trained it.

Activation is where a leaked target would do harm (every customer scored by a model that learnt
nothing usable), so a version whose held-out ROC-AUC is implausibly high is activated only with
a reason, on the command line and on the screen alike, and both the refusal and the reason are
in the operation log.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import joblib
import sklearn
from sqlalchemy import func, select, update

from models.base import utcnow
from models.churn import ChurnModel


class ArtifactRefused(RuntimeError):
    """The stored bytes do not match their digest: the model is not loaded."""


class NoSuchVersion(LookupError):
    pass


# Held-out ROC-AUC at or above this is almost never skill: a field copying the target got past
# the leakage checks (under another name, or through a column the checks do not see).
SUSPICIOUS_AUC = 0.999
MAX_REASON = 500  # characters of a confirmation reason kept in the operation log


class SuspiciousModel(RuntimeError):
    """The version scores too well to be trusted; activating it needs a confirmed reason."""

    def __init__(self, version: int, roc_auc: float):
        self.version, self.roc_auc = version, roc_auc
        super().__init__(f"model v{version} has a held-out ROC-AUC of {roc_auc:.4f} (at least "
                         f"{SUSPICIOUS_AUC}): almost certainly a copy of the target among its "
                         "features. Check its features; to activate it anyway give the reason "
                         "(--confirm-suspicious \"...\")")


def is_suspicious(row: ChurnModel) -> bool:
    auc = (row.metrics or {}).get("roc_auc")
    return auc is not None and float(auc) >= SUSPICIOUS_AUC


@dataclass
class LoadedModel:
    """An unpickled, verified model version, ready to score."""

    id: int
    version: int
    model: object
    features: list
    categorical: list
    reference_values: dict
    reference_scores: dict


def serialise(bundle: dict) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    joblib.dump(bundle, buffer, compress=3)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def store(session, result, *, target: str, selection_config: dict, created_by_id=None,
          notes: dict | None = None) -> ChurnModel:
    """Write a trained result as the next version (inactive); the caller commits."""
    bundle = {"model": result.model, "baseline": result.baseline, "features": result.features,
              "categorical": result.categorical, "reference_values": result.reference_values,
              "sklearn": sklearn.__version__}
    data, digest = serialise(bundle)
    version = (session.scalar(select(func.max(ChurnModel.version))) or 0) + 1
    model = ChurnModel(
        version=version, target=target,
        algorithm="HistGradientBoostingClassifier + isotonic calibration "
                  "(baseline: LogisticRegression)",
        metrics=result.metrics, baseline_metrics=result.baseline_metrics,
        training_config={**result.config, "features": result.features,
                         "categorical": result.categorical, "selection": selection_config,
                         "sklearn": sklearn.__version__, **(notes or {})},
        reference_scores=result.reference_scores, artifact=data, artifact_sha256=digest,
        artifact_bytes=len(data), active=False, created_at=utcnow(),
        created_by_id=created_by_id)
    session.add(model)
    session.flush()
    return model


def load(session, model_id: int) -> LoadedModel:
    """The verified model of one version (its digest checked before anything is unpickled)."""
    row = session.get(ChurnModel, model_id)
    if row is None:
        raise NoSuchVersion(f"no churn model with id {model_id}")
    data = bytes(row.artifact)
    if hashlib.sha256(data).hexdigest() != row.artifact_sha256:
        raise ArtifactRefused(f"model v{row.version}: stored artifact does not match its "
                              "SHA-256; refusing to load it")
    bundle = joblib.load(io.BytesIO(data))
    return LoadedModel(id=row.id, version=row.version, model=bundle["model"],
                       features=list(bundle["features"]), categorical=list(bundle["categorical"]),
                       reference_values=dict(bundle["reference_values"]),
                       reference_scores=dict(row.reference_scores or {}))


def active(session) -> ChurnModel | None:
    return session.scalar(select(ChurnModel).where(ChurnModel.active.is_(True))
                          .order_by(ChurnModel.version.desc()).limit(1))


def activate(session, version: int, *, user=None, confirm_reason: str | None = None) -> ChurnModel:
    """Make ``version`` the one used for scoring (the others inactive), logged; caller commits.

    A suspicious version (:func:`is_suspicious`) is refused unless ``confirm_reason`` says why
    it may be used anyway; the refusal and the confirmation (with its reason) are both logged.
    """
    from backoffice.audit.log import record

    row = session.scalar(select(ChurnModel).where(ChurnModel.version == version))
    if row is None:
        raise NoSuchVersion(f"no churn model version {version}")
    load(session, row.id)  # an artifact that does not verify is never activated
    roc_auc = (row.metrics or {}).get("roc_auc")
    reason = (confirm_reason or "").strip()[:MAX_REASON]
    if is_suspicious(row) and not reason:
        record("churn_model_activate_refused", entity="ChurnModel", entity_id=row.id,
               actor=user, detail={"version": row.version, "roc_auc": roc_auc,
                                   "why": "suspicious_roc_auc", "threshold": SUSPICIOUS_AUC})
        raise SuspiciousModel(row.version, float(roc_auc))
    previous = active(session)
    session.execute(update(ChurnModel).where(ChurnModel.id != row.id)
                    .values(active=False), execution_options={"synchronize_session": False})
    row.active, row.activated_at = True, utcnow()
    row.activated_by_id = getattr(user, "id", None)
    session.flush()
    detail = {"version": row.version, "previous_version": getattr(previous, "version", None),
              "roc_auc": roc_auc}
    if is_suspicious(row):
        detail["suspicious_confirmed"] = {"reason": reason, "threshold": SUSPICIOUS_AUC}
    record("churn_model_activate", entity="ChurnModel", entity_id=row.id, actor=user,
           detail=detail)
    return row
