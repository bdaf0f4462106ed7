"""After the demo rows are in: let the bank's own jobs work on them, so every home has figures.

The loader writes raw history (customers, accounts, a year of transactions and contacts); what a
bank derives from it every night is left empty by the loader: tiers and segments, a churn
model with scores, the dashboard figures, and a campaign someone ran. :func:`bring_to_life`
runs the real use cases for each, in the order they depend on one another:

1. the consent ledger: every marketing flag the demo set becomes an open grant, recorded through
   ``backoffice.messaging.consent`` (the ledger is what greetings read; the flags what campaigns
   read);
2. ``jobs.segments.refresh``: tiers, segment memberships and needs;
3. ``jobs.churn_training.train_model`` on the demo's own leavers, activated through the model
   registry (which refuses a suspicious version) and ``jobs.scoring.score_customers``;
4. one campaign (``campaign``) from draft to its evaluation;
5. ``jobs.summaries.refresh``: the dashboard figures, last, so they count all of the above.

Jobs run inline here even when ``REDIS_URL`` is set (``run_job``): each step needs the previous
one's result, and ``flask crm demo`` should return with the bank ready to show. Each still gets
its ``job_run`` row, so the jobs screen shows what the first day ran.
"""
from __future__ import annotations

import logging
import time

from backoffice.demo.campaign import run_demo_campaign
from backoffice.extensions import db
from jobs import runner
from models.base import utcnow
from models.jobs import JobRun

log = logging.getLogger(__name__)

CONSENT_SOURCE = "开户时书面授权"  # where the demo's customers said yes: the opening form


class FirstDayError(RuntimeError):
    """A step of the first day failed; the message names the step and the job run."""


def run_job(name: str, description: str, **kwargs) -> dict:
    """Run job ``name`` inline through the job runner (its own ``job_run`` row); its result.

    Raises :class:`FirstDayError` when the job fails: the later steps need its work.
    """
    run = JobRun(name=name, status="queued", message=description[:255], created_at=utcnow())
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    try:
        result = runner.execute(run_id, name, [], kwargs)
    except Exception as exc:
        raise FirstDayError(f"{description} failed (job run {run_id}): "
                            f"{exc.__class__.__name__}: {exc}") from exc
    finally:
        db.session.expire_all()
    return result or {}


def record_consent_ledger(session) -> dict[str, int]:
    """An open marketing grant for every consent flag a demo customer holds (the consent
    service's set-based path for flags without statements); grants per channel."""
    from backoffice.messaging.consent import record_flag_grants

    written = record_flag_grants(source=CONSENT_SOURCE, session=session)
    session.commit()
    return written


def train_and_score(seed: int) -> dict:
    """Train a version on the demo's leavers, activate it and score everyone.

    A refusal (too few leavers in a tiny demo, or a suspiciously perfect model) is reported in
    the result, not raised: the rest of the first day does not need a model.
    """
    from backoffice.churn import registry

    trained = run_job("jobs.churn_training.train_model", "churn model (demo first day)",
                      seed=seed)
    if "refused" in trained:
        return {"refused": trained["refused"]}
    try:
        registry.activate(db.session, trained["version"])
    except (registry.NoSuchVersion, registry.ArtifactRefused, registry.SuspiciousModel) as exc:
        db.session.rollback()
        return {"version": trained["version"], "refused": str(exc)}
    db.session.commit()
    scored = run_job("jobs.scoring.score_customers", "churn scoring (demo first day)")
    return {"version": trained["version"], "roc_auc": trained["metrics"].get("roc_auc"),
            "scored": scored.get("customers"),
            "tiers": scored.get("tiers")}


def bring_to_life(*, seed: int = 42, say=None) -> dict:
    """Run the first day's steps (see the module docstring); returns what each produced and
    its seconds. ``say(line)`` reports each step as it ends (the command prints them)."""
    say = say or log.info
    report, timings = {}, {}

    def step(name, func, *args, **kwargs):
        started, cpu = time.perf_counter(), time.process_time()
        report[name] = func(*args, **kwargs)
        timings[name] = {"seconds": round(time.perf_counter() - started, 2),
                         "cpu_seconds": round(time.process_time() - cpu, 2)}
        say(f"  {name}: {report[name]} ({timings[name]['seconds']} s, "
            f"{timings[name]['cpu_seconds']} s CPU)")

    step("consent_statements", record_consent_ledger, db.session)
    step("segments", lambda: _short(run_job("jobs.segments.refresh",
                                             "tiers and segments (demo first day)")))
    step("churn", train_and_score, seed)
    step("campaign", run_demo_campaign, db.session, seed=seed)
    step("summaries", lambda: run_job("jobs.summaries.refresh",
                                      "dashboard figures (demo first day)").get("rows"))
    report["seconds"] = timings
    return report


def _short(result: dict) -> dict:
    return {key: result.get(key) for key in ("tiers", "segments") if key in result}
