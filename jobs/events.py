"""The RQ entry point of the event outbox: run every consumer over the pending events.

Thin on purpose (``backoffice.events.dispatch`` does the work): it is safe to run any number of
times and from several workers at once, so a request's kick, the minute cron and a re-run after a
killed worker never handle an event twice for one consumer.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice import events
from backoffice.extensions import db


def dispatch(*, progress) -> dict:
    """The job: handle what is pending, round after round, until nothing is left; then the
    consumers start what their handlers queued (webhook deliveries are sent now, not at the
    next minute's sweep)."""
    progress.update(0, message=_l("Dispatching events"))
    counts = events.dispatch(db.session)
    events.after_dispatch()
    return counts


def scheduled_dispatch() -> int:
    """What RQ's cron scheduler enqueues every minute (``jobs.events_cron``)."""
    from jobs.queue import enqueue

    return enqueue("jobs.events.dispatch", description=_l("Event dispatch (scheduled)")).id
