"""The training form of the churn model screen: what it offers, reads and refuses.

Checked in the request, before anything is queued, so that a wrong target or feature is named at
once on the form (the same checks the use case makes again in the job, where the data itself can
still refuse: too few leavers, no usable feature).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _

from backoffice.churn import dataset

JOB_NAME = "jobs.churn_training.train_model"
TARGET_TYPES = ("boolean", "integer", "decimal", "choice", "text")
MAX_VALUE = 100
MAX_FEATURES = 200


@dataclass
class TrainingChoices:
    target: str = ""  # "" or "closed": closed customers left; else a customer field key
    positive: str = ""
    features: list = field(default_factory=list)

    def as_detail(self) -> dict:
        return {"target": self.target or "closed", "positive": self.positive or None,
                "features": list(self.features)}

    def job_kwargs(self, user_id) -> dict:
        return {"target": self.target or None, "positive": self.positive or None,
                "features": list(self.features) or None, "created_by_id": user_id}


def read(form) -> TrainingChoices:
    names = [n.strip() for n in form.getlist("feature") if n and n.strip()]
    return TrainingChoices(target=(form.get("target") or "").strip(),
                           positive=(form.get("positive") or "").strip(),
                           features=list(dict.fromkeys(names)))


def validate(session, choices: TrainingChoices) -> list[str]:
    """Every problem with the choices, each naming the field and why (empty: fine)."""
    problems, spec = [], None
    if len(choices.positive) > MAX_VALUE:
        problems.append(_("Value meaning “left”: at most %(n)s characters.", n=MAX_VALUE))
    else:
        try:  # the target and its "left" value, checked as the use case checks them
            _definition, spec = dataset.resolve_target(session, choices.target,
                                                       choices.positive or None)
        except dataset.FeatureError as exc:
            problems.append(_("Target: %(why)s", why=str(exc)))
    if len(choices.features) > MAX_FEATURES:
        problems.append(_("Features: at most %(n)s.", n=MAX_FEATURES))
    elif choices.features:
        try:
            dataset.resolve(session, choices.features,
                            exclude=(spec.key,) if spec is not None else ())
        except dataset.FeatureError as exc:
            problems.append(_("Features: %(why)s", why=str(exc)))
    return problems


def target_choices(catalog: dict) -> list[tuple[str, str]]:
    """``closed`` and the customer fields that can hold an outcome (never sensitive ones)."""
    return [("closed", _("Closed customers (customer status)"))] + [
        (spec.key, spec.label()) for spec in catalog.values()
        if spec.type in TARGET_TYPES and not spec.sensitive]


def feature_choices(catalog: dict) -> list[tuple[str, str]]:
    """The fields a model may read besides its built-in features (as on the features screen)."""
    from backoffice.churn.extract import STANDARD_FEATURE_COLUMNS

    return ([(f"customer.{name}", name) for name in sorted(STANDARD_FEATURE_COLUMNS)]
            + [(spec.key, spec.label()) for spec in catalog.values()
               if spec.type in dataset.USABLE_CUSTOM_TYPES and not spec.sensitive])


def outcome(run) -> dict:
    """What the training page says about a run: the stored version, a refusal, or a failure."""
    result = run.result if isinstance(run.result, dict) else {}
    if run.status == "failed":
        return {"failed": True}
    return {key: result[key] for key in ("model_id", "version", "refused", "metrics",
                                         "baseline_metrics") if key in result}
