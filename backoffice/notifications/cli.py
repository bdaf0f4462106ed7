"""``flask crm notifications digest``: the daily digests by hand (what the hourly job runs)."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

notifications_group = AppGroup("notifications", help="Staff notifications and their digest.")


@notifications_group.command("digest")
def digest_command():
    """Send the digests that are due now (each member's once a day); prints a JSON summary."""
    from backoffice.extensions import db
    from backoffice.notifications.digest import run

    click.echo(json.dumps(run(db.session, current_app.config), ensure_ascii=False, default=str))
