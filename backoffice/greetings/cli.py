"""`flask crm greetings send [--date YYYY-MM-DD]`: the day's greetings by hand."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
import datetime as dt
import json

import click
from flask import current_app
from flask.cli import AppGroup

greetings_group = AppGroup("greetings", help="Birthday, anniversary and festival greetings.")


@greetings_group.command("send")
@click.option("--date", "run_date", default=None,
              help="The day to select occasions for (YYYY-MM-DD); default today, local time.")
@click.option("--occasion", "occasions", multiple=True, help="Only this occasion code (repeat).")
@click.option("--enqueue", is_flag=True,
              help="Put the run on the RQ queue instead of running it here (needs REDIS_URL).")
def send_command(run_date, occasions, enqueue):
    """Select the day's occasions and send what is due; prints a JSON summary."""
    if run_date:
        try:
            dt.date.fromisoformat(run_date)
        except ValueError:
            raise click.BadParameter(f"{run_date!r} is not a date like 2026-02-28",
                                     param_hint="--date") from None
    if enqueue:
        from jobs.queue import enqueue as put

        if not current_app.config.get("REDIS_URL"):
            raise click.ClickException("REDIS_URL is not set: run without --enqueue")
        run = put("jobs.greetings.send_daily", run_date, None, list(occasions) or None,
                  description=_l("Greetings (by hand)"))
        click.echo(json.dumps({"job_run_id": run.id, "status": run.status}))
        return
    from backoffice.extensions import db
    from backoffice.greetings.dispatch import run_day

    summary = run_day(db.session, current_app.config,
                      run_date=dt.date.fromisoformat(run_date) if run_date else None,
                      occasion_codes=list(occasions) or None)
    click.echo(json.dumps(summary, ensure_ascii=False, default=str))
