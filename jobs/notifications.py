"""The daily notification digest as a job: make the due digests, send them.

Thin on purpose: ``backoffice.notifications.digest`` is safe to run any number of times and from
several workers at once (one e-mail per member of staff and day), so ``rq cron`` enqueues it
every hour (``jobs.greetings_cron``) and each member's digest goes out at the first run after
the time they chose.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import lazy_gettext as _l

from backoffice.extensions import db


def send_digests(now: str | None = None, *, progress) -> dict:
    """The job (``now``: naive-UTC ISO time, for replays; default the real time)."""
    from backoffice.notifications.digest import run

    progress.update(0, message=_l("Sending notification digests"))
    return run(db.session, current_app.config,
               now=dt.datetime.fromisoformat(now) if now else None, progress=progress)


def scheduled_digests() -> int:
    """What RQ's cron scheduler enqueues: the run through the usual job path (its ``job_run``
    id)."""
    from jobs.queue import enqueue

    return enqueue("jobs.notifications.send_digests",
                   description=_l("Notification digests (scheduled)")).id
