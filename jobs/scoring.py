"""Churn scoring: features → model → scores → warning tiers → retention tasks.

Customers are walked in id chunks (keyset pagination): per chunk a handful of grouped queries
build the features, the active model predicts in one call, rule signals and bands are vectors,
the top reasons come from occlusion for the customers the model puts at risk and every P1/P2
customer (:func:`explained_rows`), and one upsert
writes the chunk. Retention tasks and escalations are then two set-based INSERT ... SELECTs.
Nightly and on demand the same job runs (``flask crm churn score``, the dashboard's button).
"""
from __future__ import annotations

import datetime as dt
import time

import numpy as np

from backoffice.churn import dataset, extract, reasons, registry, rules, settings, tasks, training
from backoffice.churn.writer import write_scores
from backoffice.extensions import db
from models import Customer
from models.base import utcnow

SCORED_STATUSES = ("active", "dormant")


def score_customers(*, progress, chunk: int = 5000, as_of: str | None = None,
                    reasons_for: str = "elevated") -> dict:
    """The RQ job: score every active or dormant customer; returns counts per tier."""
    moment = dt.datetime.fromisoformat(as_of) if as_of else utcnow()
    result = run(db.session, as_of=moment, chunk=chunk, reasons_for=reasons_for,
                 progress=progress)
    db.session.commit()
    return result


class _NoProgress:
    def update(self, *args, **kwargs):
        pass


def run(session, *, as_of: dt.datetime, chunk: int = 5000, reasons_for: str = "elevated",
        progress=None, create_tasks: bool = True, timings: dict | None = None,
        keep_inputs: list | None = None) -> dict:
    """Score, tier and task every customer in scope of scoring; the caller commits.

    ``timings`` collects seconds per stage; ``keep_inputs`` the model's input frames (the
    benchmark times bare ``predict_proba`` on them)."""
    if reasons_for not in ("elevated", "all", "none"):
        raise ValueError(f"reasons_for must be elevated, all or none, not {reasons_for!r}")
    progress = progress or _NoProgress()
    timings = timings if timings is not None else {}
    _lock(session)
    model_row = registry.active(session)
    loaded = registry.load(session, model_row.id) if model_row is not None else None
    selection = (dataset.selection_from_config(session, model_row.training_config.get(
        "selection")) if model_row is not None else dataset.Selection())
    signal_rules = settings.signal_rules(session)
    risk_thresholds, value_thresholds = settings.risk_thresholds(), settings.value_thresholds()
    where = Customer.status.in_(SCORED_STATUSES)
    total = session.scalar(db.select(db.func.count(Customer.id)).where(where),
                           execution_options={"crm_unscoped": True}) or 0
    progress.update(0, total=total, message="scoring customers")
    snapshot = extract.Snapshot(as_of=as_of)
    done, created, tiers, probabilities = 0, 0, {"P1": 0, "P2": 0, "P3": 0, "P4": 0}, []
    for lo, hi in extract.id_chunks(session, chunk, where=where):
        started = time.perf_counter()
        _customers, frame = dataset.chunk_features(session, snapshot, selection, lo, hi,
                                                   where=where)
        _add(timings, "features", started)
        if frame.empty:
            continue
        started = time.perf_counter()
        probability = np.full(len(frame), np.nan)
        x = None
        if loaded is not None:
            x = training.model_input(frame, loaded.features, loaded.categorical)
            probability = loaded.model.predict_proba(x)[:, 1]
            if keep_inputs is not None:
                keep_inputs.append(x)
        _add(timings, "predict", started)
        started = time.perf_counter()
        value = rules.value_bands(frame, value_thresholds)
        fired = rules.evaluate_signals(frame, value, signal_rules)
        risk = rules.risk_bands(probability, [len(f) for f in fired], risk_thresholds)
        tier = rules.warning_tiers(risk, value.to_numpy())
        why = [[] for _ in range(len(frame))]
        if x is not None and reasons_for != "none":
            rows = (np.arange(len(frame)) if reasons_for == "all"
                    else explained_rows(probability, tier, risk_thresholds))
            if len(rows):
                subset = x.iloc[rows]
                impacts = reasons.occlusion_impacts(loaded.model, subset, loaded.reference_values)
                for position, found in zip(rows, reasons.top_reasons(impacts, subset)):
                    why[position] = found
        _add(timings, "bands_reasons", started)
        started = time.perf_counter()
        scored_at = utcnow()
        model_id = loaded.id if loaded is not None else None
        write_scores(session, [
            {"customer_id": int(cid), "model_id": model_id,
             "probability": None if np.isnan(p) else round(float(p), 6),
             "risk_band": r, "value_band": v, "warning_tier": t, "reasons": w, "signals": s,
             "scored_at": scored_at}
            for cid, p, r, v, t, w, s in zip(frame.index, probability, risk, value.to_numpy(),
                                              tier, why, fired)])
        if create_tasks:
            created += tasks.create_retention_tasks(session, as_of, lo, hi)
        _add(timings, "write", started)
        for name in tiers:
            tiers[name] += int(np.sum(tier == name))
        probabilities.append(probability[~np.isnan(probability)])
        done += len(frame)
        progress.update(done, total=max(total, done), message=f"scored {done} customers")
    escalated = tasks.escalate_overdue(session, as_of) if create_tasks else 0
    scores = np.concatenate(probabilities) if probabilities else np.array([])
    drift = training.psi(loaded.reference_scores, scores) if loaded is not None else None
    summary = {"customers": done, "tiers": tiers, "tasks_created": created,
               "escalated": escalated, "psi": drift,
               "model_version": loaded.version if loaded is not None else None,
               "as_of": as_of.isoformat(timespec="seconds")}
    _log_run(summary)
    progress.update(done, total=done, message=f"scored {done} customers")
    return summary


def explained_rows(probability, tier, risk_thresholds: dict) -> np.ndarray:
    """Positions whose model reasons a warning shows (``reasons_for="elevated"``).

    The customers the model itself puts at medium risk or above, and every P1/P2 customer (they
    get a retention task, and the relationship manager reads why). A P3/P4 customer raised only
    by a rule signal is explained by that signal; occlusion costs up to one prediction per
    feature per row, so leaving those out keeps reasons from costing more than the scoring.
    """
    p = np.nan_to_num(np.asarray(probability, dtype=float), nan=0.0)
    return np.flatnonzero((p >= risk_thresholds["medium"]) | np.isin(tier, ("P1", "P2")))


def _add(timings: dict, name: str, started: float) -> None:
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - started


def _lock(session) -> None:
    """One scoring run at a time (two would both see "no open task" and both insert one)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(db.text("SELECT pg_advisory_xact_lock(hashtext('crm_churn_scoring'))"))


def _log_run(summary: dict) -> None:
    from backoffice.audit.log import record

    record("churn_score", entity="ChurnScore", detail=summary)
