"""A rule's customer messages: sent once through the SMS gateway, deferred in quiet hours,
cancelled when consent is withdrawn before sending, never sent twice by a re-run."""
from __future__ import annotations

import datetime as dt

import pytest
from flask import current_app
from sqlalchemy import select

from backoffice.automation import engine, messages
from backoffice.extensions import db
from backoffice.messaging import quiet
from backoffice.messaging.consent import withdraw_consent
from models import Customer
from models.automation import AutomationMessage
from tests.greetings.servers import SmsGateway


@pytest.fixture
def gateway(app):
    server = SmsGateway().start()
    previous = app.config.get("CRM_SMS_GATEWAY_URL")
    app.config["CRM_SMS_GATEWAY_URL"] = server.url
    yield server
    app.config["CRM_SMS_GATEWAY_URL"] = previous
    server.stop()


def local_utc(hour: int, days: int = 1) -> dt.datetime:
    tz = quiet.zone(current_app.config)
    day = dt.datetime.now(tz).date() + dt.timedelta(days=days)
    return quiet.to_utc_naive(dt.datetime.combine(day, dt.time(hour, 0), tzinfo=tz))


def test_messages_wait_out_quiet_hours_obey_consent_and_go_once(bank, gateway):
    sent_to, withdrawn = bank.customers(2)
    rule = bank.rule(trigger_kind="schedule", schedule_kind="daily", approval="approved",
                     actions=[{"kind": "message", "channel": "sms", "purpose": "service",
                               "body": "{name}您好，规则提醒"}])
    assert engine.run_rule(db.session, rule.id, occurrence="manual:m")["acted"] == 2
    night = messages.send_due(db.session, current_app.config, now=local_utc(22))
    assert night["deferred"] == 2 and not gateway.recorder.snapshot()
    customer = db.session.get(Customer, withdrawn)
    withdraw_consent(customer, "sms", "service", source="test")
    db.session.commit()
    morning = messages.send_due(db.session, current_app.config, now=local_utc(9, days=2))
    assert morning["sent"] == 1 and morning["cancelled"] == 1
    again = messages.send_due(db.session, current_app.config, now=local_utc(10, days=2))
    assert again["sent"] == 0
    engine.run_rule(db.session, rule.id, occurrence="manual:m")  # a re-run of the occurrence
    messages.send_due(db.session, current_app.config, now=local_utc(11, days=2))
    received = gateway.recorder.snapshot()
    assert len(received) == 1
    assert "规则提醒" in str(received[0])
    rows = {m.customer_id: m.status for m in db.session.scalars(
        select(AutomationMessage).where(AutomationMessage.rule_id == rule.id))}
    assert rows == {sent_to: "sent", withdrawn: "cancelled"}
