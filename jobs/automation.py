"""The RQ entry points of automation rules; the work is in ``backoffice.automation``.

``tick`` (every minute from ``jobs.automation_cron``) starts the scheduled rules whose slot is
due and sends due rule messages; ``run_rule`` runs one rule over its audience (a schedule slot
or "run now"); ``send_messages`` sends what the rules queued. All are safe to re-run.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_babel import lazy_gettext as _l

from backoffice.extensions import db


def run_rule(rule_id: int, trigger: str = "manual", occurrence: str | None = None,
             started_by_id: int | None = None, *, progress) -> dict:
    from backoffice.automation import engine, messages

    result = engine.run_rule(db.session, rule_id, trigger=trigger, occurrence=occurrence,
                             started_by_id=started_by_id, job_run_id=progress.job_run_id,
                             progress=progress)
    result["messages"] = messages.send_due(db.session, current_app.config)
    return result


def send_messages(*, progress, now: str | None = None) -> dict:
    from backoffice.automation import messages

    progress.update(0, message=_l("Sending rule messages"))
    return messages.send_due(db.session, current_app.config,
                             now=dt.datetime.fromisoformat(now) if now else None)


def tick(*, progress, now: str | None = None) -> dict:
    from backoffice.automation import service

    return service.tick(db.session, current_app.config,
                        now=dt.datetime.fromisoformat(now) if now else None)


def scheduled_tick() -> int:
    """What RQ's cron scheduler enqueues every minute (``jobs.automation_cron``)."""
    from jobs.queue import enqueue

    return enqueue("jobs.automation.tick", description=_l("Automation rules (scheduled)")).id


def _on_failure(job_run_id: int, reason: str) -> None:
    """A run whose job died is marked failed, so the next tick runs its slot again (the
    ledger skips what it already did)."""
    from backoffice.automation import service

    service.run_failed(db.session, job_run_id, reason)
