"""The features raise their events (once per occurrence) when a consumer wants them: a task
overdue, a campaign closed, tier upgrades and downgrades, a churn warning tier reached."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import delete, select

from backoffice import events
from backoffice.extensions import db
from models import Campaign, FollowUp, TierChange
from models.base import utcnow
from models.events import DomainEvent


@pytest.fixture
def listening(app):
    """Subscribe a consumer to the named events; yields the events seen after a dispatch."""
    names = ("task.overdue", "campaign.closed", "tier.upgraded", "tier.downgraded",
             "churn.tier_reached")
    consumer = f"test-raised-{uuid.uuid4().hex[:6]}"
    seen: list = []
    events.subscribe(consumer, lambda s, e: seen.append((e.name, e.entity, e.entity_id,
                                                         e.customer_id, dict(e.data))),
                     lambda n: n in names)
    with app.app_context():
        yield seen
        db.session.rollback()
        db.session.remove()
    events.unsubscribe(consumer)


def test_an_overdue_task_is_raised_once(listening, world):
    from backoffice.service.reminders import publish_overdue

    customer = world.customers["c_rm1"]
    task = FollowUp(customer_id=customer, assignee_id=world.staff["rm1"], title="逾期测试",
                    task_type="callback", due_at=utcnow() - dt.timedelta(days=1), status="open")
    db.session.add(task)
    db.session.commit()
    try:
        assert publish_overdue(db.session, utcnow()) >= 1
        db.session.commit()
        assert publish_overdue(db.session, utcnow()) == 0  # the same occurrence again
        db.session.commit()
        events.dispatch(db.session)
        mine = [s for s in listening if s[0] == "task.overdue" and s[2] == task.id]
        assert len(mine) == 1 and mine[0][3] == customer
    finally:
        db.session.execute(delete(FollowUp).where(FollowUp.id == task.id))
        db.session.commit()


def test_closing_a_campaign_raises_campaign_closed(listening, world):
    from backoffice.campaigns.service import transition

    campaign = Campaign(name=f"关闭测试{uuid.uuid4().hex[:6]}", status="running",
                        channels=["sms"], target_segment_ids=[], target_tiers=[],
                        target_rule={})
    db.session.add(campaign)
    db.session.commit()
    try:
        transition(campaign, "close", None)
        events.dispatch(db.session)
        assert [s[:3] for s in listening if s[0] == "campaign.closed"] == [
            ("campaign.closed", "campaign", campaign.id)]
    finally:
        db.session.execute(delete(Campaign).where(Campaign.id == campaign.id))
        db.session.commit()


def test_tier_changes_of_a_refresh_are_raised_as_up_or_down(listening, world):
    from backoffice.segments.tier_events import publish_changes

    now = utcnow()
    up = TierChange(customer_id=world.customers["c_rm1"], old_tier="mass", new_tier="wealth",
                    source="refresh", changed_at=now)
    down = TierChange(customer_id=world.customers["c_rm3"], old_tier="wealth", new_tier="mass",
                      source="refresh", changed_at=now)
    db.session.add_all([up, down])
    db.session.commit()
    try:
        assert publish_changes(db.session, now) == 2
        db.session.commit()
        assert publish_changes(db.session, now) == 0
        events.dispatch(db.session)
        names = {(s[0], s[3]) for s in listening if s[0].startswith("tier.")}
        assert names == {("tier.upgraded", world.customers["c_rm1"]),
                         ("tier.downgraded", world.customers["c_rm3"])}
    finally:
        db.session.execute(delete(TierChange).where(TierChange.id.in_([up.id, down.id])))
        db.session.commit()


def test_a_churn_tier_reached_is_raised_for_new_elevations_only(listening, world):
    from backoffice.churn.tier_events import elevated, publish_reached
    from models.churn import ChurnScore

    customer = world.customers["c_rm2"]
    previous = db.session.scalar(select(ChurnScore).where(ChurnScore.customer_id == customer))
    saved = None if previous is None else (previous.warning_tier, previous.probability)
    before = elevated(db.session)
    before.pop(customer, None)
    if previous is None:
        previous = ChurnScore(customer_id=customer, probability=0.9, risk_band="high",
                              value_band="high", warning_tier="P1", reasons=[], signals=[],
                              scored_at=utcnow())
        db.session.add(previous)
    else:
        previous.warning_tier, previous.probability = "P1", 0.9
    db.session.commit()
    try:
        as_of = utcnow()
        assert publish_reached(db.session, before, as_of) >= 1
        db.session.commit()
        assert publish_reached(db.session, elevated(db.session), as_of) == 0
        db.session.commit()
        events.dispatch(db.session)
        mine = [s for s in listening if s[0] == "churn.tier_reached" and s[3] == customer]
        assert len(mine) == 1 and mine[0][4]["tier"] == "P1"
    finally:
        if saved is None:
            db.session.execute(delete(ChurnScore).where(ChurnScore.customer_id == customer))
        else:
            previous.warning_tier, previous.probability = saved
        db.session.execute(delete(DomainEvent).where(DomainEvent.customer_id == customer,
                                                     DomainEvent.name == "churn.tier_reached"))
        db.session.commit()
