"""What a model version's page says about it: features used and left out, the label, the data's
dates and the held-out charts — all read from the version's stored metadata.

The page never loads the artifact or a customer row: everything it shows was computed when the
version was trained (``training.curves``, ``training_config``) and stored beside it, so opening
the page costs one row and shows the same figures in every process and after any data change.
The training job records the label and the date range (:func:`training_notes`) when it stores a
version; versions trained before that show "not recorded" instead of a guess.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import func, select

from backoffice import charts
from backoffice.churn import words


def data_range(session, as_of: dt.datetime) -> dict:
    """The dates the training data spans: customers' onboarding days and transaction times up to
    the moment features were taken (``as_of``). ISO strings (the metadata is JSON)."""
    from models import Customer, Transaction

    onboarded = session.execute(select(func.min(Customer.onboarded_on),
                                       func.max(Customer.onboarded_on))).one()
    moved = session.execute(select(func.min(Transaction.occurred_at),
                                   func.max(Transaction.occurred_at))
                            .where(Transaction.occurred_at <= as_of)).one()

    def iso(value):
        if value is None:
            return None
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()

    return {"as_of": as_of.isoformat(timespec="seconds"),
            "onboarded_from": iso(onboarded[0]), "onboarded_to": iso(onboarded[1]),
            "transactions_from": iso(moved[0]), "transactions_to": iso(moved[1])}


def training_notes(session, *, target: str | None, positive: str | None,
                   as_of: dt.datetime) -> dict:
    """Metadata the page needs that the training result does not carry."""
    from backoffice.churn.service import CLOSED_GAP_DAYS

    closed = target in (None, "", "closed", "status:closed")
    return {"label_definition": {"target": target or "closed", "positive": positive or None,
                                 "closed_gap_days": CLOSED_GAP_DAYS if closed else None},
            "data_range": data_range(session, as_of)}


def label_text(row) -> str:
    """The label definition in words: which customers count as "left", which stayed and which
    were left out, with the counts the training recorded."""
    config = row.training_config or {}
    label = config.get("label") or {}
    counts = label.get("counts") or {}
    if row.target == "status:closed":
        gap = (config.get("label_definition") or {}).get("closed_gap_days")
        text = (_("Left: customers whose status is closed (features taken %(days)s days "
                  "before they closed); deceased customers are left out; everyone else "
                  "stayed.", days=gap) if gap is not None else
                _("Left: customers whose status is closed; deceased customers are left out; "
                  "everyone else stayed."))
    else:
        field = row.target.split(".", 1)[-1]
        if label.get("yes_words"):
            value = _("a yes-like value (是, yes, true, 1)")
        else:
            value = " / ".join(str(v) for v in label.get("positive") or ()) or "1"
        text = _("Left: customers whose field %(field)s is %(value)s; any other recorded value "
                 "stayed; customers without a value are left out of training.",
                 field=field, value=value)
    if counts:
        text += " " + _("(%(left)s left, %(stayed)s stayed, %(missing)s left out)",
                        left=counts.get("positive", 0), stayed=counts.get("negative", 0),
                        missing=counts.get("missing", 0))
    return text


def feature_lists(row, catalog: dict) -> tuple[list, list]:
    """(used, dropped): ``(name, label)`` pairs and ``(name, label, reason)`` triples."""
    config = row.training_config or {}
    used = [(name, words.feature_label(name, catalog)) for name in config.get("features", [])]
    dropped = [(name, words.feature_label(name, catalog), reason)
               for name, reason in (config.get("excluded") or {}).items()]
    return used, dropped


def figures(row) -> dict:
    """Reliability plot and lift chart (model beside baseline) from the stored held-out tables;
    empty for a version trained before they were stored."""
    stored = (row.training_config or {}).get("curves") or {}
    out = {}
    reliability = stored.get("reliability") or {}
    if reliability.get("model"):
        model = reliability["model"]
        baseline = {round(b["lo"], 2): b for b in reliability.get("baseline", [])}
        labels = [f"{b['lo']:.1f}–{b['hi']:.1f}" for b in model]
        series = {_("Share that left (model)"): [b["observed"] for b in model],
                  _("Mean predicted probability (model)"): [b["predicted"] for b in model]}
        if baseline:
            series[_("Share that left (baseline)")] = [
                baseline.get(round(b["lo"], 2), {}).get("observed") for b in model]
        out["reliability"] = charts.line(
            labels, series, title=_("Reliability: predicted against observed, held out"))
    lift = stored.get("lift") or {}
    if lift.get("model"):
        labels = [str(g["decile"]) for g in lift["model"]]
        series = {_("Model"): [g["lift"] for g in lift["model"]]}
        if lift.get("baseline"):
            series[_("Baseline (logistic regression)")] = [g["lift"] for g in lift["baseline"]]
        out["lift"] = charts.bar_groups(
            labels, series, title=_("Lift by tenth of held-out customers, highest scores first"))
    return out
