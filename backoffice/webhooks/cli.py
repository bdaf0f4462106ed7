"""`flask crm webhooks send`: send the deliveries that are due (retries included) by hand.

Where no ``rq cron`` runs (the embedded mode has no Redis), cron this command every minute to
send retries whose backoff has passed.
"""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

webhooks_group = AppGroup("webhooks", help="Outbound webhooks.")


@webhooks_group.command("send")
def send_command():
    """Send every due webhook delivery; prints a JSON summary."""
    from backoffice.extensions import db
    from backoffice.webhooks.sending import send_due

    click.echo(json.dumps(send_due(db.session, current_app.config)))
