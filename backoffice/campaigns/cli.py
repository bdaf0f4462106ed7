"""`flask crm campaign ...`: the evaluation of a campaign, printed as on its screen."""
from __future__ import annotations

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
