"""The teller's counter view and the consent panel of the 360 page: lookup by customer number,
ID number or mobile (blind index), service flags and notes first, consent with source, time and
withdrawals; every role sees only what its scope allows (404 otherwise)."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from backoffice.extensions import db
from backoffice.messaging.consent import record_consent, withdraw_consent
from models import AuditLog, Customer
from tests.support.world import CUSTOMERS, VISIBLE, customer_number

ALL_STAFF = sorted(VISIBLE)
SERVES = {"senior", "bm1", "bm2", "rm1", "rm2", "rm3", "teller1"}


def _identity(app, world, key):
    with app.app_context():
        customer = db.session.get(Customer, world.customers[key])
        return customer.id_number, customer.mobile


@pytest.mark.parametrize("username", ALL_STAFF)
def test_lookup_by_every_key_obeys_the_scope(app, world, client_as, username):
    """Customer number, ID number and mobile each find a customer in scope (200, flags and
    their note shown, contact details masked); out of scope it is 404 without the name; roles
    that serve nobody are refused the page itself."""
    client = client_as(username)
    for key in CUSTOMERS:
        id_number, mobile = _identity(app, world, key)
        for query in (customer_number(world, key), id_number, mobile):
            response = client.get("/service/counter/", query_string={"q": query})
            body = response.get_data(as_text=True)
            if username not in SERVES:
                assert response.status_code != 200, (username, key)
                continue
            if key in VISIBLE[username]:
                assert response.status_code == 200, (username, key, query)
                assert f"客户{key}" in body
                assert 'data-flag="hearing_aid"' in body and f"说话请放慢 {key}" in body
                assert 'id="consent-matrix"' in body
                assert mobile not in body and id_number not in body
            else:
                assert response.status_code == 404, (username, key, query)
                assert f"客户{key}" not in body


@pytest.mark.parametrize("username", ALL_STAFF)
def test_card_by_record_id_is_404_out_of_scope(world, client_as, username):
    """``/service/counter/customer/<pk>``: the same rule as every record route."""
    client = client_as(username)
    for key in CUSTOMERS:
        response = client.get(f"/service/counter/customer/{world.customers[key]}")
        if username not in SERVES:
            assert response.status_code != 200
        elif key in VISIBLE[username]:
            assert response.status_code == 200 and f"客户{key}" in response.get_data(as_text=True)
        else:
            assert response.status_code == 404


def test_unknown_or_malformed_keys_are_not_found(client_as):
    """A number nobody holds, or text that is no key at all: 404 with a message, no 500."""
    client = client_as("teller1")
    for query in ("T999999999", "110101199001019999", "13900000000", "张三", "1' OR '1'='1"):
        response = client.get("/service/counter/", query_string={"q": query})
        assert response.status_code == 404, query
        assert 'id="counter-not-found"' in response.get_data(as_text=True)
    assert client.get("/service/counter/").status_code == 200  # the empty form


def test_each_card_shown_is_in_the_operation_log(app, world, client_as):
    """Who looked whom up, and by which kind of key (not the key itself)."""
    id_number, _mobile = _identity(app, world, "c_rm2")
    with app.app_context():
        before = db.session.scalar(select(db.func.max(AuditLog.id))) or 0
    client_as("teller1").get("/service/counter/", query_string={"q": id_number})
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(
            AuditLog.id > before, AuditLog.action == "counter.view")).all()
        assert [r.customer_id for r in rows] == [world.customers["c_rm2"]]
        assert id_number not in str(rows[0].detail)


@pytest.fixture
def consent_history(app, world):
    """c_rm1 with an email greeting grant that was withdrawn, and a marketing SMS grant."""
    from models.consent import Consent

    with app.app_context():
        customer = db.session.get(Customer, world.customers["c_rm1"])
        record_consent(customer, "email", "greeting", source="mobile app")
        db.session.flush()
        withdraw_consent(customer, "email", "greeting", source="phone call")
        record_consent(customer, "wechat", "marketing", source="wechat form")
        db.session.commit()
    yield
    with app.app_context():
        db.session.execute(delete(Consent).where(
            Consent.customer_id == world.customers["c_rm1"],
            Consent.channel.in_(("email", "wechat"))))
        customer = db.session.get(Customer, world.customers["c_rm1"])
        customer.consent_wechat = False
        db.session.commit()


def test_360_page_shows_consent_by_channel_and_purpose_with_withdrawals(
        world, client_as, consent_history):
    """The matrix shows each statement in force with its source; the withdrawn grant is listed
    with its closing time; a pair never asked says so."""
    body = client_as("rm1").get(f"/customers/show/{world.customers['c_rm1']}").get_data(
        as_text=True)
    assert 'id="consent-matrix"' in body
    assert 'data-channel="sms" data-purpose="service"\n          data-state="granted"' in body
    assert 'data-channel="email" data-purpose="greeting"\n          data-state="refused"' in body
    assert 'data-channel="wechat" data-purpose="marketing"\n          data-state="granted"' in body
    assert 'data-channel="phone" data-purpose="greeting"\n          data-state="none"' in body
    assert "phone call" in body and "wechat form" in body
    history = body.split('id="consent-history"', 1)[1]
    assert "mobile app" in history and history.count('class="crm-consent-closed"') == 1
