"""`flask crm segments ...`: the tier and segment refresh as a command (cron runs it nightly)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
import json
import sys

import click
from flask.cli import AppGroup

segments_group = AppGroup("segments", help="Tiers, segments and need detectors.")


@segments_group.command("refresh")
@click.option("--today", default=None, help="Refresh as of this date (YYYY-MM-DD; default today).")
def refresh_command(today):
    """Recompute tiers, segment memberships, needs and today's counts (an RQ job when
    REDIS_URL is set, else inline)."""
    from jobs.queue import enqueue

    kwargs = {"today": today} if today else {}
    run = enqueue("jobs.segments.refresh", description=_l("Refresh tiers and segments"), **kwargs)
    click.echo(json.dumps({"job_run_id": run.id, "status": run.status, "result": run.result},
                          ensure_ascii=False, default=str))
    if run.status == "failed":
        click.echo(run.error or "", err=True)
        sys.exit(1)
