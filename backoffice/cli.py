"""`flask crm ...`: every operator task has a command as well as a screen."""
from __future__ import annotations

import json
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

crm = AppGroup("crm", help="Bank CRM back office commands.")


@crm.command("init")
@click.option("--admin-username", default="admin", show_default=True)
@click.option("--admin-password", default=None,
              help="Password for a new admin user; generated and printed once if omitted.")
def init_command(admin_username, admin_password):
    """Create or update the seven roles and their permissions, and the admin user."""
    from config.roles import ROLES
    from backoffice.security.seeding import ensure_admin, sync_roles

    appbuilder = current_app.appbuilder
    _refuse_weak_password(admin_password, admin_username)
    report = sync_roles(appbuilder, ROLES)
    ensure_admin(appbuilder, admin_username, admin_password, report)
    click.echo(f"roles: {len(ROLES)} ({', '.join(report.roles_created) or 'none'} created), "
               f"grants added {report.grants_added}, removed {report.grants_removed}")
    if report.admin_created:
        shown = report.admin_password if admin_password is None else "(as given)"
        click.echo(f"admin user created: {admin_username} / {shown}")
    else:
        click.echo(f"admin user {admin_username} already exists (password unchanged)")


@crm.command("demo")
@click.option("--customers", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--tx-per-month", default=4, show_default=True, type=click.IntRange(0))
@click.option("--password", default=None, help="Password for every demo staff login.")
@click.option("--first-day/--no-first-day", default=True, show_default=True,
              help="Then run the bank's jobs on it (consent ledger, tiers, churn model and "
                   "scores, a campaign, dashboard figures) so every home has figures.")
def demo_command(customers, seed, tx_per_month, password, first_day):
    """Fill the database with a realistic demo bank (same seed, same data)."""
    from backoffice.demo import DemoError, load_demo
    from backoffice.demo.bulk import load_demo_bulk
    from backoffice.extensions import db

    _refuse_weak_password(password)
    started = time.perf_counter()
    # PostgreSQL loads through COPY (same rows, minutes for a million customers); SQLite inserts.
    loader = load_demo_bulk if db.engine.dialect.name == "postgresql" else load_demo
    try:
        result = loader(db.session, customers=customers, seed=seed,
                        tx_per_month=tx_per_month, password=password)
    except (DemoError, ValueError) as exc:  # a clear message, not a traceback
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"counts": result.counts,
                           "seconds": round(time.perf_counter() - started, 2)},
                          ensure_ascii=False))
    if first_day:
        from backoffice.demo.firstday import FirstDayError, bring_to_life

        click.echo("first day (the bank's jobs on the demo data):")
        try:
            bring_to_life(seed=seed, say=click.echo)
        except FirstDayError as exc:  # the rows are in: keep the logins, say what is missing
            click.echo(f"first day incomplete: {exc}", err=True)
    click.echo("demo logins (username / password / role / branch):")
    for username, pwd, role, branch in result.logins:
        click.echo(f"  {username} / {pwd} / {role} / {branch or '-'}")


@crm.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker_command(burst):
    """Run an RQ worker (forking) with an app context."""
    from jobs.worker import run_worker

    if not current_app.config.get("REDIS_URL"):
        click.echo("REDIS_URL is not set: jobs run inline, no worker is needed.", err=True)
        sys.exit(1)
    run_worker(current_app._get_current_object(), burst=burst)


def _refuse_weak_password(password, *user_inputs) -> None:
    """A password given on the command line must meet the policy (a clear message, no trace)."""
    if password is None:
        return
    from backoffice.security.passwords import password_problems

    problems = password_problems(password, tuple(user_inputs))
    if problems:
        raise click.BadParameter(" ".join(problems), param_hint="password")


def register(app: Flask) -> None:
    from backoffice.security.keys_cli import keys_group  # `flask crm keys ...` (issue 3)

    crm.add_command(keys_group)
    from backoffice.imports.cli import import_command  # `flask crm import ...` (issue 5)

    crm.add_command(import_command)
    from backoffice.imports.cli import imports_group  # `flask crm imports purge`

    crm.add_command(imports_group)
    from backoffice.segments.cli import segments_group  # tiers, segments, needs (issue 6)
    crm.add_command(segments_group)
    from backoffice.campaigns.cli import campaign_group  # campaigns (issue 6)
    crm.add_command(campaign_group)
    from backoffice.greetings.cli import greetings_group  # greetings (issue 8)
    crm.add_command(greetings_group)
    from backoffice.churn.cli import churn_group  # churn early warning (issue 7)
    crm.add_command(churn_group)
    from backoffice.dashboards.cli import summaries_group  # dashboard figures (issue 9)
    crm.add_command(summaries_group)
    from backoffice.demo.cli import demo_log_command  # bulk operation log (issue 9)
    crm.add_command(demo_log_command)
    from backoffice.fields.cli import fields_group  # custom-field indexes (issue 4)
    crm.add_command(fields_group)
    from backoffice.webhooks.cli import webhooks_group

    crm.add_command(webhooks_group)
    app.cli.add_command(crm)
