"""The daily greeting run as a job: select the day's occasions, then send what is due.

Thin on purpose: the pipeline (``backoffice.greetings.dispatch``) is safe to run any number of
times and from any number of workers at once, so scheduling it hourly, enqueueing it twice, or
re-running it after a killed worker never sends a greeting twice. Schedule: see README
("Greetings"): ``rq cron jobs.greetings_cron`` enqueues :func:`scheduled_run` every hour.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import lazy_gettext as _l

from backoffice.extensions import db


def send_daily(run_date: str | None = None, now: str | None = None, occasion_codes=None, *,
               progress) -> dict:
    """Run the day (``run_date`` YYYY-MM-DD, default today in the display zone)."""
    from backoffice.greetings.dispatch import run_day

    progress.update(0, message=_l("Selecting occasions"))
    return run_day(
        db.session, current_app.config,
        run_date=dt.date.fromisoformat(run_date) if run_date else None,
        now=dt.datetime.fromisoformat(now) if now else None,
        occasion_codes=occasion_codes, progress=progress,
    )


def scheduled_run() -> int:
    """What RQ's cron scheduler enqueues: start today's run through the usual job path.

    Runs in an RQ worker (``jobs.worker.AppWorker`` provides the app context); returns the id
    of the ``job_run`` row that tracks the real run.
    """
    from jobs.queue import enqueue

    return enqueue("jobs.greetings.send_daily", description=_l("Daily greetings (scheduled)")).id
