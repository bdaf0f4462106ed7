"""``flask crm summaries refresh``: recompute the dashboard figures (a job, RQ when configured)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
import json

import click


@click.group("summaries")
def summaries_group():
    """Dashboard figures (summary tables)."""


@summaries_group.command("refresh")
def refresh_command():
    """Recompute every dashboard metric (nightly from cron, or on demand)."""
    from jobs.queue import enqueue

    run = enqueue("jobs.summaries.refresh", description=_l("Dashboard figures"))
    click.echo(json.dumps({"job_run_id": run.id, "status": run.status, "result": run.result,
                           "error": (run.error or "").splitlines()[-1:] or None},
                          ensure_ascii=False, default=str))
