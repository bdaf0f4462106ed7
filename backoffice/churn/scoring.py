"""Churn scoring: features → model → scores → warning tiers → retention tasks.

The pipeline itself, in the churn room; ``jobs.scoring`` is only the RQ entry point that calls
:func:`run` and commits, and the benchmark calls :func:`run` directly.

Every customer to be scored has their features computed in one set-based pass (one grouped query
per activity table into a temporary table: ``backoffice.churn.staging``), read back in chunks of
many customers. Per chunk the active model predicts in one call, rule signals and bands are
vectors, the top reasons come from occlusion for the customers the model puts at risk and every
P1/P2 customer (:func:`explained_rows`; the rows are encoded once, ``backoffice.churn.predictor``),
and the scores are staged. One upsert then writes the run's scores, and retention tasks and
escalations are two set-based INSERT ... SELECTs over all of them.
Nightly and on demand the same job runs (``flask crm churn score``, the dashboard's button).
"""
from __future__ import annotations

import datetime as dt
import time

import numpy as np
from flask_babel import lazy_gettext as _l

from backoffice.churn import dataset, extract, registry, rules, settings, staging, tasks, training
from backoffice.churn import tier_events
from backoffice.churn import value as churn_value
from backoffice.churn.predictor import Predictor
from backoffice.churn.reasons import top_reasons
from backoffice.churn.writer import ScoreSink
from backoffice.extensions import db
from models import Customer
from models.base import utcnow

SCORED_STATUSES = ("active", "dormant")
DEFAULT_CHUNK = 50000


class _NoProgress:
    def update(self, *args, **kwargs):
        pass


def run(session, *, as_of: dt.datetime, chunk: int = DEFAULT_CHUNK,
        reasons_for: str = "elevated", progress=None, create_tasks: bool = True,
        timings: dict | None = None, keep_inputs: list | None = None) -> dict:
    """Score, tier and task every customer in scope of scoring; the caller commits.

    ``timings`` collects seconds per stage; ``keep_inputs`` the model's input frames (the
    benchmark times bare ``predict_proba`` on them)."""
    if reasons_for not in ("elevated", "all", "none"):
        raise ValueError(f"reasons_for must be elevated, all or none, not {reasons_for!r}")
    progress = progress or _NoProgress()
    timings = timings if timings is not None else {}
    _lock(session)
    elevated_before = tier_events.elevated(session)
    model_row = registry.active(session)
    loaded = registry.load(session, model_row.id) if model_row is not None else None
    predictor = Predictor(loaded.model, loaded.features) if loaded is not None else None
    selection = (dataset.selection_from_config(session, model_row.training_config.get(
        "selection")) if model_row is not None else dataset.Selection())
    signal_rules = settings.signal_rules(session)
    risk_thresholds, value_thresholds = settings.risk_thresholds(), settings.value_thresholds()
    started = time.perf_counter()
    staged = staging.stage(session, extract.Snapshot(as_of=as_of), selection,
                           where=Customer.status.in_(SCORED_STATUSES))
    _add(timings, "features", started)
    total = staged.rows
    progress.update(0, total=total, message=_l("Scoring customers"))
    sink = ScoreSink(session, model_id=loaded.id if loaded is not None else None,
                     scored_at=utcnow())
    done, tiers, probabilities = 0, {"P1": 0, "P2": 0, "P3": 0, "P4": 0}, []
    frames = staging.chunks(session, staged, chunk)
    while True:
        started = time.perf_counter()
        item = next(frames, None)
        _add(timings, "features", started)
        if item is None:
            break
        _customers, frame = item
        started = time.perf_counter()
        probability = np.full(len(frame), np.nan)
        x = None
        if loaded is not None:
            x = training.model_input(frame, loaded.features, loaded.categorical)
            probability = predictor.probability(x)
            if keep_inputs is not None:
                keep_inputs.append(x)
        _add(timings, "predict", started)
        started = time.perf_counter()
        bands = churn_value.value_bands(session, frame, value_thresholds)
        fired = rules.evaluate_signals(frame, bands, signal_rules)
        value = bands.to_numpy()
        risk = rules.risk_bands(probability, [len(f) for f in fired], risk_thresholds)
        tier = rules.warning_tiers(risk, value)
        _add(timings, "bands", started)
        started = time.perf_counter()
        why = [[] for _ in range(len(frame))]
        if x is not None and reasons_for != "none":
            rows = (np.arange(len(frame)) if reasons_for == "all"
                    else explained_rows(probability, tier, risk_thresholds))
            if len(rows):
                subset = x.iloc[rows]
                impacts = predictor.occlusion_impacts(subset, loaded.reference_values,
                                                      base=probability[rows])
                for position, found in zip(rows, top_reasons(impacts, subset)):
                    why[position] = found
        _add(timings, "reasons", started)
        started = time.perf_counter()
        sink.add(frame.index.to_numpy(), probability, risk, value, tier, why, fired)
        _add(timings, "write", started)
        for name in tiers:
            tiers[name] += int(np.sum(tier == name))
        probabilities.append(probability[~np.isnan(probability)])
        done += len(frame)
        progress.update(done, total=max(total, done), message=_scored(done))
    started = time.perf_counter()
    sink.finish()
    tier_events.publish_reached(session, elevated_before, as_of)  # rules and webhooks
    staging.drop(session)
    _add(timings, "write", started)
    started = time.perf_counter()
    if create_tasks:
        _refresh_statistics(session)
    created = tasks.create_retention_tasks(session, as_of) if create_tasks else 0
    escalated = tasks.escalate_overdue(session, as_of) if create_tasks else 0
    _add(timings, "tasks", started)
    scores = np.concatenate(probabilities) if probabilities else np.array([])
    drift = training.psi(loaded.reference_scores, scores) if loaded is not None else None
    summary = {"customers": done, "tiers": tiers, "tasks_created": created,
               "escalated": escalated, "psi": drift,
               "model_version": loaded.version if loaded is not None else None,
               "as_of": as_of.isoformat(timespec="seconds")}
    _log_run(summary)
    progress.update(done, total=done, message=_scored(done))
    return summary


def _scored(done: int):
    """The progress message (stored as its message id: read in the job-run page's language)."""
    return _l("%(count)s customers scored", count=done)


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


def _refresh_statistics(session) -> None:
    """ANALYZE the scores just rewritten and the tasks, before the set-based task statements.

    The planner otherwise plans them on statistics taken before the run (an empty ``follow_up``
    table, say) and picks a nested-loop anti-join: seconds became minutes at a million scores.
    A database user not allowed to analyze only loses that help (a savepoint keeps the run).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    from sqlalchemy.exc import DBAPIError

    savepoint = session.begin_nested()
    try:
        session.execute(db.text("ANALYZE churn_score"))
        session.execute(db.text("ANALYZE follow_up"))
        savepoint.commit()
    except DBAPIError:
        savepoint.rollback()


def _lock(session) -> None:
    """One scoring run at a time (two would both see "no open task" and both insert one)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(db.text("SELECT pg_advisory_xact_lock(hashtext('crm_churn_scoring'))"))


def _log_run(summary: dict) -> None:
    from backoffice.audit.log import record

    record("churn_score", entity="ChurnScore", detail=summary)
