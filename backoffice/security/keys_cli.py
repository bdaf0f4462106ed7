"""`flask crm keys ...`: rotate, inspect and generate field-encryption keys."""
from __future__ import annotations

import json
import secrets

import click
from flask import current_app
from flask.cli import AppGroup

keys_group = AppGroup("keys", help="Field-encryption keys: generate, status, rotate.")


@keys_group.command("generate")
@click.option("--kid", default=None, help="Key id for the new key (default: a random one).")
@click.option("--install", "install_", is_flag=True,
              help="Embedded default only: add the key to instance/encryption_keys.json as the "
                   "new primary key (then run `flask crm keys rotate`).")
def generate_command(kid, install_):
    """Print a new random 256-bit key (base64) for CRM_ENCRYPTION_KEYS or CRM_BLIND_INDEX_KEY."""
    from backoffice.security import keys
    from models.crypto import generate_key

    key = generate_key()
    kid = kid or f"k{secrets.token_hex(3)}"
    if install_:
        if current_app.config.get("CRM_ENCRYPTION_KEYS"):
            raise click.ClickException(
                "keys come from CRM_ENCRYPTION_KEYS here: add the key to the configuration "
                "(and set CRM_PRIMARY_KEY_ID) instead of --install")
        path = keys.add_instance_key(current_app.instance_path, kid, key)
        click.echo(f"added key {kid} to {path} as the primary key; now run "
                   "`flask crm keys rotate`")
        return
    click.echo(key)
    click.echo(f"# e.g. CRM_ENCRYPTION_KEYS='{{..., \"{kid}\": \"{key}\"}}' "
               f"CRM_PRIMARY_KEY_ID={kid}", err=True)


@keys_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(as_json):
    """Rows per key id for every encrypted column."""
    from backoffice.extensions import db
    from backoffice.security import keys

    keyring = keys.app_keyring()
    status = keys.key_status(db.engine, keyring)
    if as_json:
        click.echo(json.dumps({"primary": keyring.primary_kid, "columns": status}))
        return
    click.echo(f"primary key: {keyring.primary_kid}; configured: {', '.join(keyring.kids)}")
    for column, counts in status.items():
        shown = ", ".join(f"{kid}={n}" for kid, n in counts.items()) or "-"
        click.echo(f"  {column}: {shown}")
    stale = sum(n for counts in status.values() for kid, n in counts.items()
                if kid != keyring.primary_kid)
    click.echo(f"values not on the primary key: {stale}")


@keys_group.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
def rotate_command(batch_size):
    """Re-encrypt every encrypted value to the primary key (batched, resumable)."""
    from backoffice.extensions import db
    from backoffice.security import keys

    keyring = keys.app_keyring()

    def progress(table, done, total):
        click.echo(f"{table}: {done}/{total} rows checked")

    report = keys.rotate(db.engine, keyring, batch_size=batch_size, progress=progress)
    click.echo(json.dumps({"primary": report.primary_kid, "rewritten": report.rewritten,
                           "changed_meanwhile": report.raced,
                           "seconds": round(report.seconds, 2)}))
    _record(report)


def _record(report) -> None:
    """Put the rotation on the operation log (never fatal: the rotation itself is done)."""
    from backoffice.audit.log import record

    try:
        record("keys.rotate", entity="encryption_keys",
               detail={"primary": report.primary_kid, "rewritten": report.rewritten})
    except Exception:  # the rotation itself succeeded; a log failure is reported, not raised
        current_app.logger.exception("could not record the key rotation in the operation log")
