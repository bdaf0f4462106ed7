"""Churn early warning (流失预警): trained model versions, the latest score per customer, and the
configurable rule signals.

A model artifact is bytes the application wrote itself (joblib of a fitted scikit-learn object)
with its SHA-256 beside it: the app refuses to load bytes whose digest does not match, and never
loads a model from a file. Only one version is active at a time; activating one is a deliberate,
logged step (``backoffice.churn.registry.activate``).

``ChurnScore`` keeps one row per customer (the latest run) plus the previous probability, which
is all the warning screen's trend needs, so the table stays as large as the customer table
instead of growing by a million rows a night.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import deferred, relationship

from models.base import CustomerRecord, JsonDocument, utcnow
from models.customers import Customer
from models.org import Staff

RISK_BANDS = ("high", "medium", "low")
VALUE_BANDS = ("high", "medium", "low")
WARNING_TIERS = ("P1", "P2", "P3", "P4")


def _in(column: str, values) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


class ChurnModel(Model):
    """One trained, evaluated model version; at most one is ``active`` (used for scoring)."""

    __tablename__ = "churn_model"
    id = Column(Integer, primary_key=True)
    version = Column(Integer, nullable=False, unique=True)
    target = Column(String(100), nullable=False)  # "status:closed" or "custom_fields.<key>"
    algorithm = Column(String(200), nullable=False)
    # Held-out figures of the model and of the logistic-regression baseline beside it:
    # {"roc_auc", "pr_auc", "brier", "lift_top_decile", "n_test", "positives_test"}.
    metrics = Column(JsonDocument, nullable=False, default=dict)
    baseline_metrics = Column(JsonDocument, nullable=False, default=dict)
    # Features, categorical columns, split, seed, grid and chosen hyperparameters.
    training_config = Column(JsonDocument, nullable=False, default=dict)
    # Score distribution of the held-out set (bin edges and shares): the PSI reference.
    reference_scores = Column(JsonDocument, nullable=False, default=dict)
    artifact = deferred(Column(LargeBinary, nullable=False))
    artifact_sha256 = Column(String(64), nullable=False)
    artifact_bytes = Column(Integer, nullable=False, default=0)
    active = Column(Boolean, nullable=False, default=False, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    activated_at = Column(DateTime)
    activated_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    created_by = relationship(Staff, foreign_keys=[created_by_id])
    activated_by = relationship(Staff, foreign_keys=[activated_by_id])

    def __repr__(self) -> str:
        return f"v{self.version}"


class ChurnScore(CustomerRecord, Model):
    """A customer's latest churn score, bands, warning tier, reasons and rule signals."""

    __tablename__ = "churn_score"
    __table_args__ = (
        CheckConstraint(_in("risk_band", RISK_BANDS), name="ck_churn_score_risk_band"),
        CheckConstraint(_in("value_band", VALUE_BANDS), name="ck_churn_score_value_band"),
        CheckConstraint(_in("warning_tier", WARNING_TIERS), name="ck_churn_score_tier"),
        CheckConstraint("probability IS NULL OR (probability >= 0 AND probability <= 1)",
                        name="ck_churn_score_probability"),
        Index("ix_churn_score_customer", "customer_id", unique=True),
        Index("ix_churn_score_tier_probability", "warning_tier", "probability"),
    )
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    model_id = Column(Integer, ForeignKey("churn_model.id", ondelete="SET NULL"), index=True)
    probability = Column(Float)  # None when no model is active: risk from signals alone
    previous_probability = Column(Float)
    risk_band = Column(String(8), nullable=False)
    value_band = Column(String(8), nullable=False)
    warning_tier = Column(String(2), nullable=False)
    # [{"feature", "impact"}] ordered, at most three; worded on screen (backoffice.churn.words).
    reasons = Column(JsonDocument, nullable=False, default=list)
    # [{"code", "value", "threshold"}] for every rule signal that fired.
    signals = Column(JsonDocument, nullable=False, default=list)
    scored_at = Column(DateTime, nullable=False, default=utcnow)
    previous_scored_at = Column(DateTime)

    customer = relationship(Customer)
    model = relationship(ChurnModel)

    def __repr__(self) -> str:
        return f"{self.warning_tier} {self.probability}"


class ChurnSignalRule(Model):
    """One rule signal's settings (thresholds staff may change without code)."""

    __tablename__ = "churn_signal_rule"
    id = Column(Integer, primary_key=True)
    code = Column(String(40), nullable=False, unique=True)
    enabled = Column(Boolean, nullable=False, default=True)
    threshold = Column(Float, nullable=False)
    window_days = Column(Integer, nullable=False, default=90)
    # Only customers of this value band or higher ("high", "medium"); None: everyone.
    min_value_band = Column(String(8))
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return self.code


class ChurnSetting(Model):
    """Named churn settings as JSON, e.g. ``model_features``: fields an admin marked."""

    __tablename__ = "churn_setting"
    key = Column(String(64), primary_key=True)
    value = Column(JsonDocument, nullable=False, default=dict)
    note = Column(Text)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
