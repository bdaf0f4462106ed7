"""A rule's "add to a campaign" action gives a customer added to a running campaign what a
target of the same group got at launch: the target group a pending message on the campaign's
channel (then sent once by the campaign's send job), the control group nothing; a customer the
launch's gate would have dropped is not added, with the reason in the run log; a second run
adds nothing. The evaluation counts the added targets from when they were added."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from backoffice import stored_text
from backoffice.extensions import db
from models import (Account, Campaign, CampaignMessage, CampaignTarget, Customer, FollowUp,
                    Product, Transaction)
from models.automation import AutomationRun, AutomationRunItem
from tests.greetings.servers import SmtpServer

TODAY = dt.date.today()


@pytest.fixture
def smtp(app):
    server = SmtpServer().start()
    values = {"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": server.port}
    previous = {k: app.config.get(k) for k in values}
    app.config.update(values)
    yield server.recorder
    app.config.update(previous)
    server.stop()


@pytest.fixture
def running(bank):
    """A campaign launched over two customers of its own (e-mail, one in each group),
    running; removed afterwards with what it wrote."""
    from backoffice.campaigns import service
    from backoffice.segments.catalog import rule_fields

    tag = uuid.uuid4().hex[:8]
    product = Product(code=f"AC-{tag}", name=f"加入活动理财{tag}", category="wealth",
                      risk_level="R3")
    db.session.add(product)
    db.session.commit()
    launch_marker = f"launch-{tag}"
    campaign = Campaign(
        name=f"加入活动{tag}", status="approved", product_id=product.id, channels=["email"],
        target_tiers=[], target_segment_ids=[], custom_fields={},
        target_rule={"op": "and", "items": [
            {"field": "customer.occupation", "op": "eq", "value": launch_marker}]},
        start_on=TODAY - dt.timedelta(days=1), end_on=TODAY + dt.timedelta(days=30),
        message_template="{name}，{offer}", offer="送积分", control_share=Decimal("0.5"),
        control_seed=7)
    db.session.add(campaign)
    db.session.commit()
    # The launch's audience: one customer the split puts in each group.
    launched = [customer_in(bank, campaign.id, group, occupation=launch_marker,
                            consent_email=True) for group in ("target", "control")]
    ids = {"campaign_id": campaign.id, "product_id": product.id, "launched": launched}

    def cleanup():
        customers = list(bank.customer_ids)
        db.session.execute(delete(Transaction).where(Transaction.customer_id.in_(customers)))
        db.session.execute(delete(Account).where(Account.customer_id.in_(customers)))
        db.session.execute(delete(CampaignMessage).where(
            CampaignMessage.campaign_id == ids["campaign_id"]))
        db.session.execute(delete(CampaignTarget).where(
            CampaignTarget.campaign_id == ids["campaign_id"]))
        db.session.execute(delete(Campaign).where(Campaign.id == ids["campaign_id"]))
        db.session.execute(delete(Product).where(Product.id == ids["product_id"]))

    bank.extra.append(cleanup)
    service.launch(campaign.id, rule_fields(session=db.session), today=TODAY)
    assert db.session.get(Campaign, campaign.id).status == "running"
    return ids


def customer_in(bank, campaign_id: int, group: str, **overrides) -> int:
    """A new customer of the bank (the rules' audience) whom the campaign's control split puts
    in ``group``; customers drawn into the other group leave the audience."""
    from backoffice.campaigns import stats

    campaign = db.session.get(Campaign, campaign_id)
    for _ in range(60):
        [pk] = bank.customers(1, **overrides)
        if stats.in_control(campaign.id, campaign.control_seed, pk,
                            float(campaign.control_share)) == (group == "control"):
            return pk
        db.session.get(Customer, pk).occupation = f"spare-{bank.marker}"
        db.session.commit()
    raise AssertionError("no customer drawn into " + group)


def run(bank, rule, occurrence: str) -> list[AutomationRunItem]:
    """The rule's run as its job runs it (inline in tests); its run-log items."""
    from jobs.queue import enqueue

    job = enqueue("jobs.automation.run_rule", rule.id, "manual", occurrence)
    assert job.status == "finished", job.error
    db.session.rollback()
    return db.session.scalars(select(AutomationRunItem).join(AutomationRun).where(
        AutomationRun.rule_id == rule.id, AutomationRun.occurrence == occurrence)
        .order_by(AutomationRunItem.id)).all()


def adding_rule(bank, campaign_id: int):
    """Approved by a second person: the rule sends the campaign's message to whom it adds."""
    return bank.rule(actions=[{"kind": "campaign", "campaign_id": campaign_id}],
                     trigger_kind="schedule", schedule_kind="daily", schedule_time="00:00",
                     approval="approved")


def test_added_target_gets_the_launch_message_and_is_sent_once(app, bank, running, smtp):
    """Like a launch target of the target group: a pending row on the campaign's channel, due
    like theirs; the campaign's send job sends it once (a second job sends nothing); the
    target is contacted. A second run of the rule adds nothing."""
    from jobs.queue import enqueue

    campaign_id = running["campaign_id"]
    pk = customer_in(bank, campaign_id, "target", consent_email=True, consent_sms=False)
    rule = adding_rule(bank, campaign_id)
    [item] = run(bank, rule, "first")
    assert item.outcome == "acted", stored_text.show(item.reason)

    added = db.session.scalar(select(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.customer_id == pk))
    assert added.target_group == "target" and added.channel == "email"
    [message] = db.session.scalars(select(CampaignMessage).where(
        CampaignMessage.target_id == added.id)).all()
    assert (message.channel, message.status, message.campaign_id) == ("email", "pending",
                                                                      campaign_id)
    launch_target = db.session.scalars(select(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.customer_id.in_(
            running["launched"]), CampaignTarget.target_group == "target")).first()
    assert launch_target is not None, "the launch put someone in the target group"
    launch_message = db.session.scalar(select(CampaignMessage).where(
        CampaignMessage.target_id == launch_target.id))
    assert (launch_message.channel, launch_message.status) == (message.channel, message.status)
    assert message.next_attempt_at <= dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

    address = db.session.get(Customer, pk).email
    sent = enqueue("jobs.campaigns.send_messages", campaign_id)
    assert sent.status == "finished", sent.error
    assert [m["to"] for m in smtp.snapshot()].count(address) == 1
    again = enqueue("jobs.campaigns.send_messages", campaign_id)
    assert again.status == "finished" and again.result["sent"] == 0, again.result
    assert [m["to"] for m in smtp.snapshot()].count(address) == 1
    db.session.rollback()
    assert db.session.get(CampaignMessage, message.id).status == "sent"
    assert db.session.get(CampaignTarget, added.id).contacted_at is not None

    [item] = run(bank, rule, "second")  # the same customer again: nothing more
    assert item.outcome == "skipped"
    assert len(db.session.scalars(select(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.customer_id == pk)).all()) == 1
    assert len(db.session.scalars(select(CampaignMessage).where(
        CampaignMessage.customer_id == pk)).all()) == 1


def test_control_group_draw_is_added_without_a_message(app, bank, running):
    """The control share applies as at launch; like the launch's control targets, the added
    one gets no message and no task."""
    campaign_id = running["campaign_id"]
    pk = customer_in(bank, campaign_id, "control", consent_email=True)
    [item] = run(bank, adding_rule(bank, campaign_id), "first")
    assert item.outcome == "acted", stored_text.show(item.reason)
    added = db.session.scalar(select(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.customer_id == pk))
    assert added.target_group == "control"
    assert not db.session.scalars(select(CampaignMessage).where(
        CampaignMessage.customer_id == pk)).all()
    assert not db.session.scalars(select(FollowUp).where(FollowUp.customer_id == pk)).all()
    launch_control = db.session.scalars(select(CampaignTarget.id).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.target_group == "control",
        CampaignTarget.customer_id.in_(running["launched"]))).all()
    assert launch_control and not db.session.scalars(select(CampaignMessage).where(
        CampaignMessage.target_id.in_(launch_control))).all()


def test_without_consent_not_added_and_withdrawn_consent_cancels(app, bank, running, smtp):
    """A customer without marketing consent on the campaign's channels fails the launch's
    gate, so the rule does not add them: skipped, the reason in the run log. A customer who
    consented when added and withdrew before the send gets no message: the send job cancels
    it, with the reason on the message."""
    from backoffice.campaigns import gate
    from backoffice.messaging.consent import withdraw_consent
    from jobs.queue import enqueue

    campaign_id = running["campaign_id"]
    refuser = customer_in(bank, campaign_id, "target", consent_email=False, consent_sms=True)
    withdrawer = customer_in(bank, campaign_id, "target", consent_email=True)
    items = {item.customer_id: item for item in run(bank, adding_rule(bank, campaign_id),
                                                     "first")}
    assert items[withdrawer].outcome == "acted"
    assert items[refuser].outcome == "skipped"
    reason = stored_text.show(items[refuser].reason)
    assert str(gate.REASON_LABELS["consent"]) in reason, reason
    assert not db.session.scalars(select(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id,
        CampaignTarget.customer_id == refuser)).all()
    assert not db.session.scalars(select(CampaignMessage).where(
        CampaignMessage.customer_id == refuser)).all()

    withdraw_consent(db.session.get(Customer, withdrawer), "email", "marketing",
                     source="test")
    db.session.commit()
    sent = enqueue("jobs.campaigns.send_messages", campaign_id)
    assert sent.status == "finished", sent.error
    db.session.rollback()
    message = db.session.scalar(select(CampaignMessage).where(
        CampaignMessage.customer_id == withdrawer))
    assert message.status == "cancelled" and "consented" in (message.last_error or "")
    assert db.session.get(Customer, withdrawer).email not in [m["to"] for m in smtp.snapshot()]


def test_evaluation_counts_added_targets_from_when_they_were_added(app, bank, running):
    """Added targets count in their group's size; a purchase of the product before they were
    added is not a conversion, one after is."""
    from backoffice.campaigns import evaluation, service

    campaign_id = running["campaign_id"]
    before = customer_in(bank, campaign_id, "target", consent_email=True)
    after = customer_in(bank, campaign_id, "target", consent_email=True)
    [first, second] = run(bank, adding_rule(bank, campaign_id), "first")
    assert first.outcome == second.outcome == "acted"
    added_at = {t.customer_id: t.created_at for t in db.session.scalars(select(
        CampaignTarget).where(CampaignTarget.customer_id.in_([before, after])))}
    for n, (pk, when) in enumerate(((before, added_at[before] - dt.timedelta(minutes=5)),
                                    (after, added_at[after] + dt.timedelta(minutes=5)))):
        account = Account(account_no=f"62229{uuid.uuid4().int % 10**11:011d}", customer_id=pk,
                          product_id=running["product_id"], balance=Decimal(5000),
                          opened_on=TODAY - dt.timedelta(days=1), status="open")
        db.session.add(account)
        db.session.flush()
        db.session.add(Transaction(account_id=account.id, customer_id=pk, occurred_at=when,
                                   amount=Decimal(5000 + n), direction="in", channel="mobile",
                                   type="wealth_purchase"))
    db.session.commit()
    service.detect_conversions(campaign_id)
    converted = dict(db.session.execute(select(CampaignTarget.customer_id,
                                               CampaignTarget.converted_amount).where(
        CampaignTarget.customer_id.in_([before, after]),
        CampaignTarget.converted_at.is_not(None))).all())
    assert converted == {after: Decimal("5001.00")}

    campaign = db.session.get(Campaign, campaign_id)
    report = evaluation.evaluate(db.session, campaign)
    launched = db.session.scalars(select(CampaignTarget.target_group).where(
        CampaignTarget.campaign_id == campaign_id,
        CampaignTarget.customer_id.in_(running["launched"]))).all()
    assert report.overall.target.size == launched.count("target") + 2
    assert report.overall.control.size == launched.count("control")
    assert report.overall.target.converted == 1
    assert report.overall.target.new_customers == 0  # held the product before the purchase


def test_a_rule_adding_to_a_campaign_needs_approval_before_it_acts(app, bank, running):
    """Adding someone sends them the campaign's message: like a messaging rule, such a rule
    does nothing while no second person has approved it."""
    from backoffice.automation import engine

    campaign_id = running["campaign_id"]
    pk = customer_in(bank, campaign_id, "target", consent_email=True, consent_sms=False)
    rule = bank.rule(actions=[{"kind": "campaign", "campaign_id": campaign_id}],
                     trigger_kind="schedule", schedule_kind="daily", schedule_time="00:00")
    assert engine.run_rule(db.session, rule.id, occurrence="manual:unapproved") == {
        "refused": True}
    assert db.session.scalar(select(CampaignTarget.id).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.customer_id == pk)) is None
