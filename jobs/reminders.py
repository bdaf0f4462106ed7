"""The RQ entry points of the daily reminders: the job reads its arguments and calls the
service room's use case (``backoffice.service.reminders``: escalations, then digests); the
cron scheduler (``jobs.greetings_cron``, 08:30) enqueues it."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
import datetime as dt

from flask import current_app

from backoffice.extensions import db
from backoffice.service.reminders import run_daily
from models.base import utcnow


def daily_reminders(*, progress, now: str | None = None) -> dict:
    """The job: escalate overdue inquiries, then e-mail the digests."""
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    return run_daily(db.session, current_app.config, moment, progress)


def scheduled_reminders() -> int:
    """What RQ's cron scheduler enqueues (see ``jobs.greetings_cron``)."""
    from jobs.queue import enqueue

    return enqueue("jobs.reminders.daily_reminders", description=_l("Daily reminders")).id
