"""The campaigns room's panel on the customer 360 page ("campaigns and segments" tab): the
campaigns that targeted this customer and where each stands (contacted, responded, converted).
For roles that read campaigns; one query of this customer's targets.
"""
from __future__ import annotations

from sqlalchemy import select

from backoffice.extensions import db
from models import Campaign, CampaignTarget

ROWS = 20


def targets(customer) -> dict:
    from backoffice.campaigns.views import CHANNEL_LABELS, STATUS_LABELS

    rows = db.session.execute(
        select(CampaignTarget, Campaign).join(Campaign, Campaign.id == CampaignTarget.campaign_id)
        .where(CampaignTarget.customer_id == customer.id)
        .order_by(CampaignTarget.created_at.desc(), CampaignTarget.id.desc()).limit(ROWS)).all()
    return {"campaign_targets": rows, "status_labels": STATUS_LABELS,
            "channel_labels": CHANNEL_LABELS}


def register() -> None:
    from backoffice.customers.panels import Panel, register_panel, requires

    register_panel(Panel("campaign_targets", "marketing", "campaigns/_customer_targets.html",
                         targets, requires("can_read", "Campaign"), order=20))
