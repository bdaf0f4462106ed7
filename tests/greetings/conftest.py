"""Fixtures of the greeting tests: local SMTP and SMS servers, customers made to order."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import delete

from tests.greetings.servers import SmsGateway, SmtpServer
from tests.support.world import make_prc_id

_serial = itertools.count(1)


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def sms_gateway():
    gateway = SmsGateway().start()
    yield gateway
    gateway.stop()


@pytest.fixture
def channel_config(app, smtp_server, sms_gateway):
    """The app's settings pointed at the local servers (restored afterwards)."""
    values = {"CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": smtp_server.port,
              "CRM_SMS_GATEWAY_URL": sms_gateway.url}
    previous = {k: app.config.get(k) for k in values}
    app.config.update(values)
    yield app.config
    app.config.update(previous)


def make_customers(session, world, count: int, *, birth: dt.date, channel: str = "email",
                   prefix: str = "G", **overrides) -> list[int]:
    """Customers born on ``birth`` with a greeting consent on ``channel`` (ids)."""
    from backoffice.messaging.consent import record_consent
    from models import Customer

    ids = []
    for _ in range(count):
        n = next(_serial)
        customer = Customer(
            customer_no=f"{prefix}{n:08d}"[:20], name=f"贺{n}", customer_type="individual",
            gender="F" if n % 2 else "M", birth_date=birth, id_type="PRC_ID",
            id_number=make_prc_id(birth, 500 + n), mobile=f"139{n:08d}",
            email=f"greet{n}@example.com", branch_id=world.branches["B1"],
            owner_id=world.staff["rm1"], status="active",
            **{"custom_fields": {}, "onboarded_on": dt.date(2015, 6, 1), "tier": "mass",
               **overrides})
        session.add(customer)
        session.flush()
        if channel:
            record_consent(customer, channel, "greeting", source="test")
        ids.append(customer.id)
    session.commit()
    return ids


@pytest.fixture
def greeting_cleanup(db_session):
    """Remove what a test's greeting run wrote (dispatch rows, interactions, tasks, customers)."""
    from models import Customer, FollowUp, GreetingDispatch, Interaction

    made: list[int] = []
    yield made
    db_session.rollback()
    if made:
        for model in (GreetingDispatch, FollowUp, Interaction):
            db_session.execute(delete(model).where(model.customer_id.in_(made)))
        from models.consent import Consent

        db_session.execute(delete(Consent).where(Consent.customer_id.in_(made)))
        db_session.execute(delete(Customer).where(Customer.id.in_(made)))
        db_session.commit()
