"""`flask crm campaign ...`: the evaluation of a campaign, printed as on its screen."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
import json

import click
from flask.cli import AppGroup

campaign_group = AppGroup("campaign", help="Marketing campaigns.")


@campaign_group.command("evaluate")
@click.argument("campaign_id", type=int)
@click.option("--detect/--no-detect", default=True, show_default=True,
              help="First detect conversions from transactions in the campaign window.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate_command(campaign_id, detect, as_json):
    """Reach, response and conversion rates, converted amount, new customers and the uplift
    over the control group with its 95% confidence interval, overall, by branch and by RM."""
    from backoffice.campaigns import evaluation, service
    from backoffice.extensions import db
    from models import Campaign

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.ClickException(f"no campaign {campaign_id}")
    if detect and campaign.status in ("running", "closed"):
        service.detect_conversions(campaign.id)
    report = evaluation.evaluate(db.session, campaign)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
        return
    click.echo(evaluation.as_text(campaign, report))


@campaign_group.command("send")
@click.argument("campaign_id", type=int, required=False)
def send_command(campaign_id):
    """Enqueue the sending of due campaign messages (SMS, e-mail, WeChat): of one campaign, or
    of every running campaign with messages due. Safe to run from cron every few minutes:
    a message is never sent twice."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from jobs.queue import enqueue
    from models import Campaign, CampaignMessage
    from models.base import utcnow

    if campaign_id is not None:
        if db.session.get(Campaign, campaign_id) is None:
            raise click.ClickException(f"no campaign {campaign_id}")
        ids = [campaign_id]
    else:
        ids = list(db.session.scalars(
            select(CampaignMessage.campaign_id).join(Campaign)
            .where(Campaign.status == "running",
                   CampaignMessage.status.in_(("pending", "retry", "sending")),
                   CampaignMessage.next_attempt_at <= utcnow())
            .distinct().order_by(CampaignMessage.campaign_id)))
    for pk in ids:
        run = enqueue("jobs.campaigns.send_messages", pk,
                      description=_l("Send messages of campaign %(id)s", id=pk))
        click.echo(f"campaign {pk}: job {run.id} {run.status}")
    if not ids:
        click.echo("no campaign has messages due")
