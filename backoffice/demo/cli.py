"""``flask crm demo-log --rows N``: a year of chained operation log for benchmarks (PostgreSQL)."""
from __future__ import annotations

import json

import click


@click.command("demo-log")
@click.option("--rows", default=1_000_000, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--days", default=365, show_default=True, type=click.IntRange(1))
def demo_log_command(rows, seed, days):
    """Append ROWS realistic, hash-chained operation-log rows (COPY; a quiet database only)."""
    from backoffice.demo.loader import DemoError
    from backoffice.demo.oplog import load_operation_log
    from backoffice.extensions import db

    def progress(done, total):
        click.echo(f"  {done}/{total}", err=True)

    try:
        result = load_operation_log(db.session, rows, seed=seed, days=days, progress=progress)
    except (DemoError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(result))
