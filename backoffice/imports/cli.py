"""``flask crm import PATH --kind ...``: the import as one command, printing a JSON summary.

The command acts as the system (like every ``flask crm`` command, it needs shell access to a
configured server): it writes directly, with no second-person approval, and the operation log
records the batch with no acting user. The summary names the batch, the counts and, when rows
were rejected, the most common problems (column, message, how many rows, the first one) and where
the error report is (``--report FILE`` also writes it there). ``--dry-run --create-fields``
lists the fields it would create (``proposed_fields``) and creates none.

``flask crm imports purge`` deletes stored import files older than
``CRM_IMPORT_FILE_RETENTION_DAYS`` (``backoffice.imports.retention``); run it daily from cron.
``flask crm imports list | show | resume | cancel | revert | sweep`` look after batches, an
interrupted one above all (``backoffice.imports.batch_cli``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", required=True,
              type=click.Choice(["customers", "accounts", "transactions", "interactions",
                                 "branches", "staff", "products"]))
@click.option("--mode", default="atomic", show_default=True,
              type=click.Choice(["atomic", "skip-bad"]))
@click.option("--dry-run", is_flag=True, help="Plan and count only; write nothing.")
@click.option("--mapping", "template", default=None, help="A saved mapping template's name.")
@click.option("--create-fields", is_flag=True,
              help="Make custom fields of columns that match no field (types inferred).")
@click.option("--sheet", default=None, help="The workbook sheet (default: the first).")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False),
              help="Also write the error report (XLSX) to this file.")
@with_appcontext
def import_command(path, kind, mode, dry_run, template, create_fields, sheet, report_path):
    """Import a CSV or XLSX file of customers, accounts, transactions, interactions, branches,
    staff or products."""
    from backoffice.extensions import db
    from backoffice.imports import files, pipeline, report, service
    from backoffice.imports.reading import ImportFileError

    session = db.session
    try:
        # A dry run writes no field definitions: it proposes them (``proposed_fields``).
        batch, mapped = service.upload(session, path.read_bytes(), path.name, kind,
                                       mode=mode.replace("-", "_"), sheet=sheet,
                                       template_name=template,
                                       create_fields=create_fields and not dry_run)
    except ImportFileError as problem:
        raise click.ClickException(str(problem.message)) from None
    except service.ImportRefused as refused:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in refused.errors.items()))
    if dry_run:
        result = pipeline.dry_run(session, batch.id)
        if create_fields:
            result["proposed_fields"] = proposed_fields(mapped)
    else:
        result = pipeline.commit(session, batch.id)
    if result.get("rejected"):
        data = files.load(session, result["batch_id"], "report")
        if data:
            result["common_problems"] = report.common_problems(data)
            if report_path:
                Path(report_path).write_bytes(data)
                result["error_report_file"] = str(report_path)
    if kind == "staff" and not dry_run:
        from backoffice.security import set_password

        # New users' one-time links: printed here once (or e-mailed when SMTP is configured).
        result["set_password_links"] = set_password.deliver(session, result["batch_id"])
    click.echo(json.dumps(result, ensure_ascii=False, default=str))
    if result["status"] in ("failed", "cancelled"):
        sys.exit(1)


def proposed_fields(mapped) -> list[dict]:
    """The custom fields ``--create-fields`` would make of the unmatched columns (type inferred
    from the data), for a dry run to show instead of making them."""
    return [{"header": column.header, "type": column.inferred_type,
             "choices": list(column.choices)}
            for column in mapped.unmatched if not column.duplicate_of]


@click.group("imports", help="Import batches and housekeeping.")
def imports_group():
    pass


def _add_batch_commands() -> None:
    from backoffice.imports.batch_cli import COMMANDS

    for command in COMMANDS:
        imports_group.add_command(command)


_add_batch_commands()


@imports_group.command("purge")
@click.option("--days", type=click.IntRange(0), default=None,
              help="Override CRM_IMPORT_FILE_RETENTION_DAYS for this run.")
@with_appcontext
def purge_command(days):
    """Delete stored import files (uploads, error reports, previews) older than the retention
    (``CRM_IMPORT_FILE_RETENTION_DAYS``); meant for a daily cron entry."""
    from backoffice.extensions import db
    from backoffice.imports import retention

    result = retention.purge(db.session, days=days)
    click.echo(json.dumps({"days": result["days"], "files_deleted": result["files"],
                           "batches": len(result["batches"])}))
