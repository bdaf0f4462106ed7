"""`flask crm webhooks ...`: send the deliveries that are due by hand; list recent deliveries.

Where no ``rq cron`` runs (the embedded mode has no Redis), cron ``send`` every minute to send
retries whose backoff has passed.
"""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import gettext as _

webhooks_group = AppGroup("webhooks", help="Outbound webhooks.")


@webhooks_group.command("send")
def send_command():
    """Send every due webhook delivery; prints a JSON summary."""
    from backoffice.extensions import db
    from backoffice.webhooks.sending import send_due

    click.echo(json.dumps(send_due(db.session, current_app.config)))


@webhooks_group.command("deliveries")
@click.option("--webhook", "webhook_id", type=int, default=None,
              help="Only this webhook's deliveries (its number on the webhooks screen).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--language", default=None,
              help="zh or en; default: the server's language.")
def deliveries_command(webhook_id, limit, language):
    """The latest deliveries, newest first: event, status and attempts in words (never the
    body, as on the deliveries screen)."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from models.webhooks import Webhook, WebhookDelivery

    languages = list(current_app.config.get("LANGUAGES") or {})
    language = language or current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")
    if languages and language not in languages:
        raise click.BadParameter(
            _("%(language)s is not one of the app's languages (%(languages)s).",
              language=language, languages=", ".join(languages)), param_hint="--language")
    query = (select(WebhookDelivery, Webhook.name).join(Webhook)
             .order_by(WebhookDelivery.id.desc()).limit(limit))
    if webhook_id is not None:
        if db.session.get(Webhook, webhook_id) is None:
            raise click.BadParameter(_("There is no webhook number %(number)s.",
                                       number=webhook_id), param_hint="--webhook")
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    rows = db.session.execute(query).all()
    with force_locale(language):
        for line in delivery_lines(rows):
            click.echo(line)


def delivery_lines(rows) -> list[str]:
    """``(delivery, webhook name)`` rows as tab-separated lines under a heading, in the
    current language."""
    from backoffice.formatting import local_time
    from backoffice.webhooks.catalog import label
    from backoffice.webhooks.words import STATUSES

    lines = ["\t".join((_("No."), _("Time"), _("Webhook"), _("Event"), _("Status"),
                        _("Attempts"), _("Response code")))]
    for delivery, webhook_name in rows:
        status = STATUSES.get(delivery.status)
        lines.append("\t".join((
            str(delivery.id), str(local_time(delivery.created_at)), webhook_name,
            label(delivery.event_name, delivery.source),
            str(status) if status is not None else delivery.status,
            str(delivery.attempts or 0),
            str(delivery.response_code) if delivery.response_code is not None else "—")))
    return lines
