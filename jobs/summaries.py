"""Refreshing the dashboard figures (``dashboard_summary``), nightly and on demand.

Nightly: ``rq cron jobs.summaries_cron --url $REDIS_URL`` (02:30), or a system cron running
``flask --app wsgi crm summaries refresh``; on demand: the "refresh figures" button on the home
page or the same command. Every metric is one set-based INSERT ... SELECT and the whole refresh
is one transaction, committed by the runner with the job's outcome, so a failed refresh leaves
the previous figures in place.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice.extensions import db


def refresh(*, progress) -> dict:
    """Recompute every registered dashboard metric; returns the rows written per metric."""
    from backoffice.dashboards.summaries import metrics, refresh_all

    written = refresh_all(db.session, progress=progress)
    progress.update(len(metrics()), total=len(metrics()), message=_l("Dashboard figures refreshed"))
    return {"rows": written}


def scheduled_refresh() -> int:
    """What RQ's cron scheduler enqueues: the refresh through the usual job path (its run id)."""
    from jobs.queue import enqueue

    return enqueue("jobs.summaries.refresh", description=_l("Dashboard figures (nightly)")).id
