"""The RQ side of webhooks: send one delivery, or everything due (the minute's sweep).

Thin on purpose: ``backoffice.webhooks.sending`` claims rows under a lease, so a kick after a
request, the sweep and a replay's job can run at once without sending a delivery twice in
parallel; retries wait in the table (``next_attempt_at``) until a sweep finds them due.
Schedule: ``rq cron jobs.webhooks_cron`` enqueues :func:`scheduled_sweep` every minute.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from backoffice.extensions import db


def deliver(delivery_id: int, *, progress) -> dict:
    """Send one delivery now, if it is due (a delivered or claimed one is left alone)."""
    from backoffice.webhooks.sending import send_due

    progress.update(0, message=_l("Delivering a webhook"))
    return send_due(db.session, current_app.config, only_ids=[int(delivery_id)])


def send_due(*, progress) -> dict:
    """Send every delivery that is due: new ones, and retries whose backoff has passed."""
    from backoffice.webhooks import sending

    progress.update(0, message=_l("Delivering webhooks"))
    return sending.send_due(db.session, current_app.config)


def scheduled_sweep() -> int:
    """What RQ's cron scheduler enqueues every minute (``jobs.webhooks_cron``)."""
    from jobs.queue import enqueue

    return enqueue("jobs.webhooks.send_due", description=_l("Webhook deliveries (scheduled)")).id
