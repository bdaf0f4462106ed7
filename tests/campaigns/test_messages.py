"""Campaign messages go out through the real channels (a local aiosmtpd SMTP server and an HTTP
SMS/WeChat gateway), once per target: never to the control group, never to a customer who no
longer passes the suitability gate or withdrew consent on the channel, never twice on a re-run,
and again (once) after a worker died mid-claim. Phone targets become ``campaign`` tasks.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, update

from backoffice.extensions import db
from models import (
    Campaign,
    CampaignMessage,
    CampaignTarget,
    Customer,
    FollowUp,
    Interaction,
    Product,
)
from tests.greetings.servers import SmsGateway, SmtpServer
from tests.support.world import make_prc_id

TODAY = dt.date.today()
# The sending clock: 12:00 tomorrow in Asia/Shanghai (no quiet hours), after every due time.
NOON = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(4))
_serial = itertools.count(1)


@pytest.fixture
def servers(app):
    smtp, sms, wechat = SmtpServer().start(), SmsGateway().start(), SmsGateway().start()
    values = {"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp.port,
              "CRM_SMS_GATEWAY_URL": sms.url, "CRM_WECHAT_GATEWAY_URL": wechat.url,
              "CRM_DISPLAY_TIMEZONE": "Asia/Shanghai"}
    previous = {k: app.config.get(k) for k in values}
    app.config.update(values)
    yield {"email": smtp.recorder, "sms": sms.recorder, "wechat": wechat.recorder}
    app.config.update(previous)
    for server in (smtp, sms, wechat):
        server.stop()


@pytest.fixture
def made(app):
    """Customers and campaigns a test made, removed afterwards."""
    record = {"customers": [], "campaigns": [], "products": []}
    yield record
    with app.app_context():
        session = db.session
        session.rollback()
        customers = record["customers"]
        if customers:
            for model in (CampaignMessage, CampaignTarget, FollowUp, Interaction):
                session.execute(delete(model).where(model.customer_id.in_(customers)))
        session.execute(delete(Campaign).where(Campaign.id.in_(record["campaigns"])))
        if customers:
            session.execute(delete(Customer).where(Customer.id.in_(customers)))
        session.execute(delete(Product).where(Product.id.in_(record["products"])))
        session.commit()
        db.session.remove()


def _customer(session, world, made, *, email=True, sms=True, wechat=False, phone=False,
              **overrides):
    n = next(_serial)
    customer = Customer(
        customer_no=f"CMSG{n:06d}", name=f"短信客户{n}", customer_type="individual",
        branch_id=world.branches["B1"], owner_id=world.staff["rm1"], id_type="PRC_ID",
        id_number=make_prc_id(dt.date(1981, 2, 3), 700 + n), birth_date=dt.date(1981, 2, 3),
        mobile=f"138{n:08d}", email=f"cmsg{n}@example.com", risk_tolerance="C4",
        risk_assessed_on=TODAY - dt.timedelta(days=30), status="active", tier="mass",
        consent_email=email, consent_sms=sms, consent_wechat=wechat, consent_phone=phone,
        custom_fields={}, **overrides)
    session.add(customer)
    session.flush()
    made["customers"].append(customer.id)
    return customer


def _launched(session, world, made, customers, channels, *, share="0.3"):
    """An approved campaign over exactly ``customers`` (a rule on their numbers), launched."""
    from backoffice.campaigns import service
    from backoffice.segments.catalog import rule_fields

    product = Product(code=f"CMSG-P{next(_serial)}", name="稳健理财", category="wealth",
                      risk_level="R3")
    session.add(product)
    session.flush()
    made["products"].append(product.id)
    numbers = [c.customer_no for c in customers]
    marker = f"cmsg-{product.id}"  # an occupation only these customers have
    campaign = Campaign(
        name="春季理财", status="approved", product_id=product.id, channels=channels,
        target_tiers=["mass"], target_segment_ids=[], custom_fields={},
        target_rule={"op": "or", "items": [
            {"field": "customer.occupation", "op": "eq", "value": marker}]},
        start_on=TODAY - dt.timedelta(days=1), end_on=TODAY + dt.timedelta(days=30),
        message_template="尊敬的{name}：{product}首购加息，{offer} {unknown}", offer="送积分",
        control_share=Decimal(share), control_seed=11)
    session.add(campaign)
    session.commit()
    made["campaigns"].append(campaign.id)
    for customer in session.scalars(select(Customer).where(Customer.customer_no.in_(numbers))):
        customer.occupation = marker
    session.commit()
    report = service.launch(campaign.id, rule_fields(session=session), today=TODAY)
    return campaign.id, report


def _send(session, app, campaign_id, now=NOON):
    from backoffice.campaigns.messages import send_campaign

    return send_campaign(session, app.config, campaign_id, now=now, today=TODAY)


def test_messages_go_out_once_to_the_target_group_only(app, world, servers, made, client_as):
    """E-mail to those who consented to e-mail, SMS to those who consented only to SMS; the
    control group gets nothing; a second run sends nothing; targets are contacted and logged."""
    with app.app_context():
        session = db.session
        people = ([_customer(session, world, made) for _ in range(14)]
                  + [_customer(session, world, made, email=False) for _ in range(6)])
        session.commit()
        campaign_id, report = _launched(session, world, made, people, ["email", "sms"])
        targets = session.scalars(select(CampaignTarget).where(
            CampaignTarget.campaign_id == campaign_id)).all()
        assert len(targets) == 20 and report["groups"]["control"] > 0
        in_target = {t.customer_id: t for t in targets if t.target_group == "target"}
        assert report["messages"] == len(in_target)
        assert all(t.contacted_at is None for t in targets)  # nothing sent yet

        summary = _send(session, app, campaign_id)
        assert summary["sent"] == len(in_target), summary
        emails = {m["to"] for m in servers["email"].snapshot()}
        smses = {m["mobile"] for m in servers["sms"].snapshot()}
        by_id = {c.id: c for c in people}
        expected_email = {by_id[pk].email for pk, t in in_target.items() if t.channel == "email"}
        expected_sms = {by_id[pk].mobile for pk, t in in_target.items() if t.channel == "sms"}
        assert emails == expected_email and smses == expected_sms
        assert len(servers["email"].snapshot()) == len(expected_email)  # once each
        assert expected_sms, "some targets had only SMS consent"
        control = {by_id[t.customer_id] for t in targets if t.target_group == "control"}
        assert not ({c.email for c in control} & emails or {c.mobile for c in control} & smses)
        first = servers["email"].snapshot()[0]
        name = next(c.name for c in people if c.email == first["to"])
        # Placeholders filled, an unknown brace left as written.
        assert first["body"] == f"尊敬的{name}：稳健理财首购加息，送积分 {{unknown}}"

        session.expire_all()
        contacted = session.scalars(select(CampaignTarget).where(
            CampaignTarget.campaign_id == campaign_id,
            CampaignTarget.contacted_at.is_not(None))).all()
        assert {t.customer_id for t in contacted} == set(in_target)
        logged = session.scalars(select(Interaction).where(
            Interaction.customer_id.in_(list(in_target)), Interaction.topic == "marketing"))
        assert len(logged.all()) == len(in_target)

        again = _send(session, app, campaign_id)
        assert again["sent"] == 0
        assert len(servers["email"].snapshot()) == len(expected_email)
        assert len(servers["sms"].snapshot()) == len(expected_sms)
    page = client_as("senior").get(f"/campaigns/show/{campaign_id}").get_data(as_text=True)
    shown = page[max(0, page.find('id="message-statuses"')):][:300]
    assert '<span data-status="sent">' in shown and f"{len(in_target)}</span>" in shown, shown


def test_consent_withdrawn_or_assessment_expired_before_sending_cancels(app, world, servers,
                                                                          made):
    """The gate is applied again at send time, on the message's own channel; a campaign past
    its end date sends nothing more."""
    from backoffice.messaging.consent import withdraw_consent

    with app.app_context():
        session = db.session
        people = [_customer(session, world, made, email=False, wechat=True, sms=False)
                  for _ in range(6)]
        session.commit()
        campaign_id, _report = _launched(session, world, made, people, ["wechat"], share="0")
        withdrawn, expired = people[0], people[1]
        withdraw_consent(session.get(Customer, withdrawn.id), "wechat", "marketing",
                         source="test")
        session.get(Customer, expired.id).risk_assessed_on = TODAY - dt.timedelta(days=800)
        session.commit()

        summary = _send(session, app, campaign_id)
        assert summary["sent"] == 4 and summary["cancelled"] == 2, summary
        received = {m["mobile"] for m in servers["wechat"].snapshot()}
        assert received == {c.mobile for c in people[2:]}
        statuses = dict(session.execute(select(CampaignMessage.customer_id,
                                               CampaignMessage.status).where(
            CampaignMessage.campaign_id == campaign_id)).all())
        assert statuses[withdrawn.id] == statuses[expired.id] == "cancelled"

        # Messages still due after the campaign's end date are cancelled, not sent.
        session.execute(update(CampaignMessage).where(
            CampaignMessage.campaign_id == campaign_id, CampaignMessage.status == "sent")
            .values(status="retry", sent_at=None))
        session.get(Campaign, campaign_id).end_on = TODAY - dt.timedelta(days=1)
        session.commit()
        late = _send(session, app, campaign_id)
        assert late["sent"] == 0 and late["cancelled"] == 4, late
        assert len(servers["wechat"].snapshot()) == 4


def test_unreachable_server_retries_and_a_dead_claim_is_sent_once(app, world, servers, made):
    """No SMTP server configured: the messages wait (``retry``, with the reason) and nothing
    is lost; later they go out once. A row a killed worker left ``sending`` is taken again
    after its lease, a ``sent`` row never."""
    with app.app_context():
        session = db.session
        people = [_customer(session, world, made, sms=False) for _ in range(4)]
        session.commit()
        campaign_id, _report = _launched(session, world, made, people, ["email"], share="0")
        port = app.config["CRM_SMTP_HOST"]
        app.config["CRM_SMTP_HOST"] = None
        try:
            summary = _send(session, app, campaign_id)
        finally:
            app.config["CRM_SMTP_HOST"] = port
        assert summary["retrying"] == 4 and summary["sent"] == 0
        errors = session.scalars(select(CampaignMessage.last_error).where(
            CampaignMessage.campaign_id == campaign_id)).all()
        assert all("CRM_SMTP_HOST" in e for e in errors)
        assert servers["email"].snapshot() == []

        rows = session.scalars(select(CampaignMessage).where(
            CampaignMessage.campaign_id == campaign_id).order_by(CampaignMessage.id)).all()
        dead, done = rows[0].id, rows[1].id
        session.execute(update(CampaignMessage).where(CampaignMessage.id == dead).values(
            status="sending", claim_token="dead", claimed_at=NOON - dt.timedelta(hours=1)))
        session.execute(update(CampaignMessage).where(CampaignMessage.id == done).values(
            status="sent", sent_at=NOON - dt.timedelta(hours=1)))
        session.commit()
        later = NOON + dt.timedelta(hours=2)  # past every retry's backoff
        summary = _send(session, app, campaign_id, now=later)
        assert summary["sent"] == 3, summary
        received = [m["to"] for m in servers["email"].snapshot()]
        done_email = next(c.email for c in people
                          if c.id == session.get(CampaignMessage, done).customer_id)
        assert len(received) == len(set(received)) == 3 and done_email not in received


def test_phone_targets_get_campaign_tasks(app, world, made):
    """Follow-up tasks of a campaign carry the task type ``campaign`` (not ``other``)."""
    from models.choices import TASK_TYPES

    assert "campaign" in TASK_TYPES
    with app.app_context():
        session = db.session
        people = [_customer(session, world, made, email=False, sms=False, phone=True)
                  for _ in range(3)]
        session.commit()
        campaign_id, report = _launched(session, world, made, people, ["phone"], share="0")
        tasks = session.scalars(select(FollowUp).where(
            FollowUp.notes == f"campaign #{campaign_id}")).all()
        assert report["tasks"] == len(tasks) == 3 and report["messages"] == 0
        assert {t.task_type for t in tasks} == {"campaign"}


def test_the_launch_job_sends_and_the_cli_finds_nothing_left(app, world, servers, made):
    """Through the job runner (inline without Redis, as under RQ): the launch job sends the
    messages at once; `flask crm campaign send` then has nothing due, and re-running the send
    job sends nothing more."""
    from jobs.queue import enqueue

    with app.app_context():
        session = db.session
        people = [_customer(session, world, made, sms=False) for _ in range(3)]
        session.commit()
        product = Product(code=f"CMSG-P{next(_serial)}", name="活期宝", category="deposit",
                          risk_level="R1")
        session.add(product)
        session.flush()
        made["products"].append(product.id)
        for customer in people:
            session.get(Customer, customer.id).occupation = f"job-{product.id}"
        campaign = Campaign(
            name="作业发送", status="approved", product_id=product.id, channels=["email"],
            target_tiers=[], target_segment_ids=[], custom_fields={},
            target_rule={"op": "and", "items": [
                {"field": "customer.occupation", "op": "eq", "value": f"job-{product.id}"}]},
            start_on=TODAY - dt.timedelta(days=1), end_on=TODAY + dt.timedelta(days=9),
            message_template="{name}，您好", control_share=Decimal(0), control_seed=1)
        session.add(campaign)
        session.commit()
        made["campaigns"].append(campaign.id)
        run = enqueue("jobs.campaigns.launch", campaign.id)
        assert run.status == "finished", run.error
        assert run.result["sending"]["sent"] == 3, run.result
        assert sorted(m["to"] for m in servers["email"].snapshot()) == sorted(
            c.email for c in people)
        again = enqueue("jobs.campaigns.send_messages", campaign.id)
        assert again.status == "finished" and again.result["sent"] == 0
        campaign_id = campaign.id
    runner = app.test_cli_runner()
    due = runner.invoke(args=["crm", "campaign", "send"])  # every campaign with messages due
    assert due.exit_code == 0 and f"campaign {campaign_id}:" not in due.output
    one = runner.invoke(args=["crm", "campaign", "send", str(campaign_id)])
    assert one.exit_code == 0 and f"campaign {campaign_id}: job" in one.output, one.output
    assert len(servers["email"].snapshot()) == 3
    bad = runner.invoke(args=["crm", "campaign", "send", "999999"])
    assert bad.exit_code != 0 and "no campaign 999999" in bad.output
