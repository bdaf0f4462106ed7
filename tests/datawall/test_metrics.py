"""The two figures the wall adds to the summary refresh count what their tables hold: churn
warnings per tier and campaign stages per group, in each branch, recomputed here row by row
from ``churn_score`` and ``campaign_target`` (not from the summary)."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from backoffice.dashboards import summaries
from backoffice.datawall import figures as wf
from backoffice.extensions import db
from backoffice.security import policy
from models import Customer, Staff
from models.base import utcnow
from models.campaigns import Campaign, CampaignTarget
from models.churn import ChurnScore


@pytest.fixture
def scored_and_targeted(app, world):
    """Churn scores for the world's customers that have none (P1 for c_rm1, P2 for c_rm3) and
    a running campaign: c_rm1 targeted, contacted and converted, c_rm3 targeted, c_rm2 in the
    control group. Removed afterwards."""
    made = []
    with app.app_context():
        for key, tier in (("c_rm1", "P1"), ("c_rm3", "P2")):
            customer_id = world.customers[key]
            if db.session.scalar(select(ChurnScore.id).where(
                    ChurnScore.customer_id == customer_id)) is None:
                score = ChurnScore(customer_id=customer_id, probability=0.8, risk_band="high",
                                   value_band="high", warning_tier=tier, reasons=[],
                                   signals=[])
                db.session.add(score)
                db.session.flush()
                made.append(score.id)
        now = utcnow()
        campaign = Campaign(name="大屏测试活动", status="running", launched_at=now,
                            channels=["phone"], target_segment_ids=[], target_tiers=[],
                            target_rule={}, custom_fields={})
        db.session.add(campaign)
        db.session.flush()
        db.session.add_all([
            CampaignTarget(campaign_id=campaign.id, customer_id=world.customers["c_rm1"],
                           target_group="target", contacted_at=now, converted_at=now,
                           converted_amount=Decimal("321.00")),
            CampaignTarget(campaign_id=campaign.id, customer_id=world.customers["c_rm3"],
                           target_group="target"),
            CampaignTarget(campaign_id=campaign.id, customer_id=world.customers["c_rm2"],
                           target_group="control"),
        ])
        summaries.refresh_all(db.session, now=now)
        db.session.commit()
        campaign_id = campaign.id
        db.session.remove()
    yield
    with app.app_context():
        db.session.execute(delete(CampaignTarget.__table__).where(
            CampaignTarget.__table__.c.campaign_id == campaign_id))
        db.session.execute(delete(Campaign.__table__).where(Campaign.__table__.c.id == campaign_id))
        db.session.execute(delete(ChurnScore.__table__).where(ChurnScore.__table__.c.id.in_(made)))
        summaries.refresh_all(db.session)
        db.session.commit()
        db.session.remove()


def _rows(session, query):
    return session.execute(query.execution_options(crm_unscoped=True)).all()


@pytest.mark.parametrize("code", ["B1", "B2"])
def test_churn_and_campaign_figures_count_their_tables(app, world, scored_and_targeted, code):
    branch_id = world.branches[code]
    since = dt.datetime.combine(summaries.months_back(utcnow()), dt.time())
    with app.app_context():
        session = db.session
        churn = Counter(tier for tier, in _rows(session, select(ChurnScore.warning_tier).join(
            Customer, Customer.id == ChurnScore.customer_id).where(
            Customer.branch_id == branch_id, Customer.status != "closed")))
        stages = {g: Counter() for g in ("target", "control")}
        converted = Decimal(0)
        for target, _launched in _rows(session, select(CampaignTarget, Campaign.launched_at).join(
                Campaign, Campaign.id == CampaignTarget.campaign_id).join(
                Customer, Customer.id == CampaignTarget.customer_id).where(
                Customer.branch_id == branch_id, Campaign.launched_at >= since)):
            group = stages[target.target_group]
            group["targeted"] += 1
            group["contacted"] += target.contacted_at is not None
            group["responded"] += target.responded_at is not None
            if target.converted_at is not None:
                group["converted"] += 1
                if target.target_group == "target":
                    converted += target.converted_amount or 0
        senior = policy.viewer_for(session.get(Staff, world.staff["senior"]))
        shown = wf.wall_figures(session, wf.branch_wall(session, senior.scope, branch_id),
                                senior, tiles={"churn", "campaigns"})["tiles"]
        session.remove()
    assert shown["churn"]["counts"] == {t: churn.get(t, 0) for t in wf.CHURN_TIERS}
    assert sum(churn.values()) >= 1  # the fixture's score counts here
    campaigns = shown["campaigns"]
    assert campaigns["stages"] == {g: {s: stages[g].get(s, 0) for s in
                                       ("targeted", "contacted", "responded", "converted")}
                                   for g in stages}
    assert campaigns["stages"]["target"]["targeted"] >= 1
    assert (campaigns["converted_amount"] or Decimal(0)) == converted
