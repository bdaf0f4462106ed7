"""The demo's one campaign, run from draft to its evaluation through the campaign use cases.

A senior manager writes it, another approves it (maker-checker: the author may not), the launch
job gates and splits the audience and gives each target-group customer a phone task for their
relationship manager, and the conversion job finds who bought the product in the window. What
staff would have done in between is the demo's story, like the rest of its history: the
campaign ran over the last weeks, most calls were made (tasks done), some customers showed
interest (responses recorded through ``record_outcome``). Conversions are never made up: they
are whatever the demo's own accounts and transactions show.
"""
from __future__ import annotations

import datetime as dt
import random

from flask_appbuilder.security.sqla.models import Permission, PermissionView, Role, ViewMenu
from sqlalchemy import select, update

from backoffice.campaigns import evaluation, service
from backoffice.campaigns.service import PERMISSION_VIEW
from backoffice.security.permissions import has_permission
from models import Campaign, CampaignTarget, FollowUp, Product, Staff
from models.base import utcnow

PRODUCT_CODE = "TD-3M"  # a plain deposit (R1): every customer's risk tolerance allows it
AUDIENCE_TIERS = ["private_banking", "wealth", "vip"]
NAME = "季度定期存款回馈"
STARTED_DAYS_AGO, ENDED_DAYS_AGO = 45, 5
CALLS_MADE = 0.85  # share of the phone tasks done
INTERESTED = 0.3  # share of the customers called who showed interest


def _approvers(session) -> list[Staff]:
    """Active staff whose roles may approve campaigns, by id (the permission, not a role name)."""
    grant = Role.permissions.any(PermissionView.permission.has(Permission.name == "can_approve")
                                 & PermissionView.view_menu.has(ViewMenu.name == PERMISSION_VIEW))
    return list(session.scalars(select(Staff).where(Staff.active.is_(True),
                                                    Staff.roles.any(grant))
                                .order_by(Staff.id).limit(2)))


def run_demo_campaign(session, *, seed: int = 42, today: dt.date | None = None) -> dict:
    """Create, approve, launch, work, detect and close the demo campaign; its evaluation, or
    ``{"skipped": why}`` when the campaign rules refuse a step (the rest of the day goes on)."""
    try:
        return _run(session, seed, today)
    except service.CampaignRefused as exc:
        session.rollback()
        return {"skipped": str(exc)}


def _run(session, seed: int, today: dt.date | None) -> dict:
    from backoffice.demo.firstday import run_job
    from backoffice.segments.catalog import rule_fields

    today = today or utcnow().date()
    product = session.scalar(select(Product).where(Product.code == PRODUCT_CODE))
    approvers = _approvers(session)
    if product is None or len(approvers) < 2:
        return {"skipped": "needs the product " + PRODUCT_CODE + " and two senior managers"}
    author, approver = approvers
    start, end = (today - dt.timedelta(days=STARTED_DAYS_AGO),
                  today - dt.timedelta(days=ENDED_DAYS_AGO))
    fields = rule_fields(session=session)
    clean = service.clean_campaign({
        "name": NAME, "product_id": product.id, "target_tiers": AUDIENCE_TIERS,
        "channels": ["phone"], "start_on": start, "end_on": end, "control_share": "0.2",
        "offer": "新客户三个月定期存款利率上浮", "control_seed": seed}, fields)
    campaign = service.save(Campaign(status="draft"), clean, author.id)
    service.transition(campaign, "submit", author)
    service.transition(campaign, "approve", approver,
                       may_approve=has_permission(approver, "can_approve", PERMISSION_VIEW))
    launched = run_job("jobs.campaigns.launch", "demo campaign launch", campaign_id=campaign.id)
    _backdate(session, campaign, start)
    _work_the_calls(session, campaign, random.Random(seed), start, end)
    run_job("jobs.campaigns.detect_conversions", "demo campaign conversions",
            campaign_id=campaign.id)
    campaign = session.get(Campaign, campaign.id)
    service.transition(campaign, "close", author)
    overall = evaluation.evaluate(session, campaign).overall
    return {"id": campaign.id, "groups": launched.get("groups"),
            "contacted": overall.target.contacted, "responded": overall.target.responded,
            "converted": {"target": overall.target.converted,
                          "control": overall.control.converted}}


def _backdate(session, campaign: Campaign, start: dt.date) -> None:
    """The campaign ran from ``start``: its stamps, targets and tasks say so."""
    began = dt.datetime.combine(start, dt.time(1))
    campaign.submitted_at = began - dt.timedelta(days=3)
    campaign.approved_at = began - dt.timedelta(days=2)
    campaign.launched_at = began
    session.execute(update(CampaignTarget).where(CampaignTarget.campaign_id == campaign.id)
                    .values(created_at=began))
    session.execute(update(FollowUp).where(FollowUp.source == "campaign",
                                           FollowUp.notes == f"campaign #{campaign.id}")
                    .values(created_at=began))
    session.commit()


def _work_the_calls(session, campaign: Campaign, rng: random.Random, start: dt.date,
                    end: dt.date) -> None:
    """Most phone tasks done in the window; some of those called recorded as interested."""
    rows = session.execute(
        select(CampaignTarget, FollowUp).join(FollowUp, FollowUp.id == CampaignTarget.follow_up_id)
        .where(CampaignTarget.campaign_id == campaign.id)
        .order_by(CampaignTarget.id)).all()
    window = max(1, (end - start).days)
    for target, task in rows:
        if rng.random() >= CALLS_MADE:
            continue
        called = dt.datetime.combine(start, dt.time(1)) + dt.timedelta(
            days=rng.randrange(window), hours=rng.randint(0, 8))
        task.status, task.completed_at = "done", called
        if rng.random() < INTERESTED:
            service.record_outcome(target, responded=True, converted=False, source="staff")
            target.responded_at = target.contacted_at = called
    session.commit()
