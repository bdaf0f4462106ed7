"""``flask crm audit ...``: verify the chain, checkpoint its head, archive and purge old rows.

The group hangs under ``flask crm`` (added to that group from here, so ``backoffice/cli.py``
needs no change).
"""
from __future__ import annotations

import datetime as dt
import sys

import click
from flask import current_app
from flask.cli import AppGroup

audit = AppGroup("audit", help="Operation log: verify the hash chain, checkpoint, archive and "
                               "purge.")


def register(app) -> None:
    from backoffice.cli import crm

    if "audit" not in crm.commands:
        crm.add_command(audit)


def _cli_actor() -> str:
    """Who ran the command, as the log names command-line actors (``cli:<os user>``)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


def _before_option(func):
    return click.option(
        "--before", "before", default=None,
        help="Rows that occurred before this date (YYYY-MM-DD, UTC); default: today minus "
             "CRM_AUDIT_RETENTION_DAYS (365).")(func)


def _parse_before(value) -> dt.datetime:
    from backoffice.audit.archive import default_before

    if not value:
        return default_before(current_app.config)
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d")
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2025-12-31") from exc


@audit.command("verify")
def verify_command():
    """Walk the keyed chain and check the signed checkpoints (CRM_AUDIT_CHECKPOINT_DIR); print
    OK and the row count, or the first bad row and why (exit 1)."""
    from backoffice.audit import checkpoints
    from backoffice.audit.chain_key import current_key
    from backoffice.extensions import db

    key = current_key()
    directory = checkpoints.configured_dir(current_app.config)
    with db.engine.connect() as connection:
        result = checkpoints.verify(connection, directory, key)
    if result.ok:
        span = f" (rows {result.first_id}..{result.last_id})" if result.count else ""
        held = f"; {result.reason}" if result.reason else ""
        click.echo(f"OK: {result.count} rows verified{span}{held}")
        if directory is None:
            click.echo("note: no CRM_AUDIT_CHECKPOINT_DIR is configured, so rows cut off the "
                       "end of the log would go unnoticed; see `flask crm audit checkpoint`",
                       err=True)
        return
    click.echo(f"FAILED at row {result.bad_id}: {result.reason} "
               f"({result.count} rows verified before it)", err=True)
    sys.exit(1)


@audit.command("checkpoint")
@click.option("--out", "out", default=None, type=click.Path(file_okay=False),
              help="Folder to write the checkpoint to; default CRM_AUDIT_CHECKPOINT_DIR.")
def checkpoint_command(out):
    """Verify the chain, then write its head (row id, hash, time), signed with the chain key,
    to a file outside the database that `audit verify` checks from then on."""
    from pathlib import Path

    from backoffice.audit import checkpoints
    from backoffice.audit.chain_key import current_key
    from backoffice.audit.log import record
    from backoffice.extensions import db

    directory = Path(out) if out else checkpoints.configured_dir(current_app.config)
    if directory is None:
        raise click.ClickException("no folder: give --out DIR or set CRM_AUDIT_CHECKPOINT_DIR "
                                   "(a folder outside the database, on storage its "
                                   "administrators cannot write)")
    try:
        with db.engine.connect() as connection:
            point = checkpoints.write(connection, directory, current_key())
    except (checkpoints.CheckpointError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    record("audit_checkpoint", entity="AuditLog", entity_id=point.row_id, actor=_cli_actor(),
           detail={"row_id": point.row_id, "file": str(point.path)})
    click.echo(f"checkpoint: row {point.row_id} hash {point.row_hash} -> {point.path}")


@audit.command("archive")
@_before_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Archive file to write (.jsonl, or .csv); must not exist yet.")
def archive_command(before, out):
    """Write not yet archived rows older than --before to a file and record the archive."""
    from pathlib import Path

    from backoffice.audit.archive import ArchiveError, archive
    from backoffice.extensions import db

    if Path(out).exists():
        raise click.ClickException(f"{out} exists already; choose a new file name")
    try:
        result = archive(db.engine, _parse_before(before), out, actor=_cli_actor())
    except ArchiveError as exc:
        raise click.ClickException(str(exc)) from exc
    if not result.rows:
        click.echo("nothing to archive")
        return
    click.echo(f"archive #{result.archive_id}: rows {result.first_id}..{result.last_id} "
               f"({result.rows}) -> {result.path} sha256 {result.file_sha256}")


@audit.command("purge")
@_before_option
def purge_command(before):
    """Delete rows older than --before that an archive (file present, unchanged) covers."""
    from backoffice.audit.archive import ArchiveError, purge
    from backoffice.extensions import db

    try:
        result = purge(db.engine, _parse_before(before), actor=_cli_actor())
    except ArchiveError as exc:
        raise click.ClickException(str(exc)) from exc
    for archive_id, reason in result.refused:
        click.echo(f"archive #{archive_id} not purged: {reason}", err=True)
    if not result.archives:
        click.echo("nothing purged (only rows in a recorded archive are ever removed)")
    else:
        click.echo(f"purged {result.rows} rows of archives "
                   f"{', '.join(f'#{a}' for a in result.archives)}")
    if result.refused:
        sys.exit(1)
