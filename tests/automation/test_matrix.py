"""Every trigger kind firing every action kind, each asserting the action's real effect:
a record change (a customer field changed from/to), a schedule (the tick of the minute cron),
and an event a feature raises (a complaint opened)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import delete, select

from backoffice import events
from backoffice.extensions import db
from models import (Campaign, CampaignTarget, Customer, FollowUp, Product, Segment,
                    SegmentMembership)
from models.automation import AutomationMessage
from tests.automation.conftest import tasks_of

TRIGGERS = ("record", "schedule", "event")
ACTIONS = ("task", "message", "set_field", "segment", "campaign", "notify", "webhook")


def trigger_values(kind: str) -> dict:
    if kind == "record":
        return {"trigger_kind": "record", "trigger_entity": "customer", "trigger_on": "changed",
                "trigger_field": "flag_elderly", "trigger_from": "false", "trigger_to": "true"}
    if kind == "schedule":
        return {"trigger_kind": "schedule", "schedule_kind": "daily", "schedule_time": "00:00"}
    return {"trigger_kind": "event", "trigger_event": "complaint.opened"}


def fire(kind: str, bank, customer_ids, rule):
    """Make the trigger happen for the customers, and let the machinery run."""
    from flask import current_app

    if kind == "record":
        for customer in db.session.scalars(select(Customer).where(Customer.id.in_(customer_ids))):
            customer.flag_elderly = True
        db.session.commit()
        events.dispatch(db.session)
    elif kind == "schedule":
        from backoffice.automation import service

        result = service.tick(db.session, current_app.config)
        assert rule.id in result["started"]
    else:
        from backoffice.service.complaints import open_complaint

        for customer in db.session.scalars(select(Customer).where(Customer.id.in_(customer_ids))):
            open_complaint(db.session, current_app.config, customer, "规则测试投诉")
        db.session.commit()
        events.dispatch(db.session)


def action_for(kind: str, bank, setup: dict) -> dict:
    if kind == "task":
        return {"kind": "task", "assignee": "owner", "task_type": "callback", "due_days": 1,
                "title": "规则任务"}
    if kind == "message":
        return {"kind": "message", "channel": "sms", "purpose": "service", "body": "{name}您好"}
    if kind == "set_field":
        return {"kind": "set_field", "field": "flag_vip", "value": "true"}
    if kind == "segment":
        return {"kind": "segment", "segment_id": setup["segment_id"]}
    if kind == "campaign":
        return {"kind": "campaign", "campaign_id": setup["campaign_id"]}
    if kind == "notify":
        return {"kind": "notify", "assignee": "owner", "text": "请关注"}
    return {"kind": "webhook", "webhook_id": setup["webhook_id"]}


@pytest.fixture
def setup(bank, world):
    """A segment, a running campaign and a webhook the actions point at."""
    from backoffice.webhooks import service as hooks

    tag = uuid.uuid4().hex[:8]
    segment = Segment(code=f"au_{tag}", name=f"规则分群{tag}", kind="segment",
                      rule={"op": "or", "items": []}, priority=100, active=True,
                      offer_categories=[])
    product = db.session.get(Product, world.product_id)
    campaign = Campaign(name=f"规则活动{tag}", status="running", product_id=product.id,
                        channels=["sms"], target_segment_ids=[], target_tiers=[],
                        target_rule={}, control_share=0, start_on=dt.date.today())
    db.session.add_all([segment, campaign])
    db.session.commit()
    webhook, _secret = hooks.create(db.session, {
        "name": f"规则钩子{tag}", "url": "http://127.0.0.1:9/hook",
        "events": ["campaign.closed"], "active": True})
    ids = {"segment_id": segment.id, "campaign_id": campaign.id, "webhook_id": webhook.id}

    def cleanup():
        from models import CampaignMessage
        from models.webhooks import Webhook, WebhookDelivery

        # The added targets' messages first: SQLite does not cascade, and a message left
        # behind would collide with the next test's target of the same id.
        db.session.execute(delete(CampaignMessage).where(CampaignMessage.campaign_id == ids[
            "campaign_id"]))
        db.session.execute(delete(CampaignTarget).where(CampaignTarget.campaign_id == ids[
            "campaign_id"]))
        db.session.execute(delete(SegmentMembership).where(
            SegmentMembership.segment_id == ids["segment_id"]))
        db.session.execute(delete(WebhookDelivery).where(
            WebhookDelivery.webhook_id == ids["webhook_id"]))
        db.session.execute(delete(Webhook).where(Webhook.id == ids["webhook_id"]))
        db.session.execute(delete(Campaign).where(Campaign.id == ids["campaign_id"]))
        db.session.execute(delete(Segment).where(Segment.id == ids["segment_id"]))

    bank.extra.append(cleanup)
    return ids


def effects(kind: str, customer_ids, setup, rule) -> int:
    """How many of the customers carry the action's effect."""
    db.session.rollback()
    ids = list(customer_ids)
    if kind == "task":
        tasks = tasks_of(ids)
        assert all(t.task_type == "callback" and t.status == "open" for t in tasks)
        return len({t.customer_id for t in tasks})
    if kind == "message":
        return len(db.session.scalars(select(AutomationMessage).where(
            AutomationMessage.rule_id == rule.id, AutomationMessage.customer_id.in_(ids),
            AutomationMessage.channel == "sms")).all())
    if kind == "set_field":
        return len(db.session.scalars(select(Customer.id).where(
            Customer.id.in_(ids), Customer.flag_vip.is_(True))).all())
    if kind == "segment":
        return len(db.session.scalars(select(SegmentMembership.customer_id).where(
            SegmentMembership.segment_id == setup["segment_id"],
            SegmentMembership.customer_id.in_(ids))).all())
    if kind == "campaign":
        return len(db.session.scalars(select(CampaignTarget.customer_id).where(
            CampaignTarget.campaign_id == setup["campaign_id"],
            CampaignTarget.customer_id.in_(ids))).all())
    if kind == "notify":
        from models.notifications import Notification

        return len({n.customer_id for n in db.session.scalars(select(Notification).where(
            Notification.kind == "rule", Notification.customer_id.in_(ids)))})
    from backoffice.webhooks import payload  # noqa: F401 - the room that built the body
    from models.webhooks import WebhookDelivery

    deliveries = db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.webhook_id == setup["webhook_id"],
        WebhookDelivery.source == "rule")).all()
    return len(deliveries)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_each_trigger_fires_each_action(bank, setup, trigger, action):
    customers = bank.customers(2)
    bank.customers(1, occupation="someone else")  # matches no condition: never acted on
    values = trigger_values(trigger)
    approval = "approved" if action in ("message", "campaign") else "none"
    rule = bank.rule(actions=[action_for(action, bank, setup)], approval=approval, **values)
    fire(trigger, bank, customers, rule)
    assert effects(action, customers, setup, rule) == 2
    # once only: the same trigger again acts on nothing new
    if trigger == "schedule":
        from flask import current_app

        from backoffice.automation import service

        assert rule.id not in service.tick(db.session, current_app.config)["started"]
    else:
        events.dispatch(db.session)
    assert effects(action, customers, setup, rule) == 2
    db.session.rollback()
    others = db.session.scalars(select(FollowUp).where(
        FollowUp.source == "automation", FollowUp.customer_id.notin_(customers),
        FollowUp.customer_id.in_(bank.customer_ids))).all()
    assert not others
