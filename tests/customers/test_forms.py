"""Screens validate on the server with CSRF on: bad input gets a field message and writes nothing."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from models import Account, Customer, Interaction
from tests.support.web import csrf_token, post_form
from tests.support.world import make_prc_id

BIRTH = dt.date(1988, 6, 15)


def customer_form(**overrides) -> dict:
    data = {
        "name": "王小明", "customer_type": "individual", "gender": "M",
        "birth_date": BIRTH.isoformat(), "id_type": "PRC_ID",
        "id_number": make_prc_id(BIRTH, 77), "mobile": "13912345678",
        "email": "wang@example.com", "status": "active", "risk_tolerance": "C2",
        "branch": "1",  # B1, the first branch the test world creates
    }
    data.update(overrides)
    return data


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_post_without_csrf_token_is_refused(app, client_as):
    client = client_as("rm1")
    before = count(app, Customer)
    response = client.post("/customers/add", data=customer_form(name="无令牌"))
    assert response.status_code in (200, 400)
    assert count(app, Customer) == before


def test_valid_customer_is_created_in_the_creators_book(app, world, client_as):
    """A relationship manager's new customer waits for review, then lands in their book."""
    client = client_as("rm1")
    response = post_form(client, "/customers/add", customer_form(name="新客户甲"))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert "/review/show/" in response.location  # maker-checker: a change request, no customer
    assert count(app, Customer, Customer.name == "新客户甲") == 0
    request_url = response.location.replace("/review/show/", "/review/approve/")
    reviewer = client_as("bm1")
    token = csrf_token(reviewer, response.location)
    assert reviewer.post(request_url, data={"csrf_token": token}).status_code == 302
    with app.app_context():
        created = db.session.scalars(select(Customer).where(Customer.name == "新客户甲")).one()
        assert created.owner_id == world.staff["rm1"]
        assert created.branch_id == world.branches["B1"]
        assert created.customer_no.startswith("C")
        assert created.version == 1


def test_missing_required_fields_get_field_messages(app, client_as):
    client = client_as("rm1")
    before = count(app, Customer)
    response = post_form(client, "/customers/add", customer_form(name="", id_number=""))
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.count("This field is required") + body.count("必填") >= 2
    assert count(app, Customer) == before


@pytest.mark.parametrize("income, message", [
    ("1e30", "120000.00"), ("1E1000000", "120000.00"), ("-5", "不小于零")])
def test_an_absurd_annual_income_gets_a_message_not_an_error(app, world, client_as, income,
                                                             message):
    """Too many digits for an amount (the decimal context cannot even round them) is a field
    message on the edit form, as a negative amount is; the customer is left as it was."""
    client = client_as("rm1")
    pk = world.customers["c_rm1"]
    url = f"/customers/edit/{pk}"
    with app.app_context():
        current = db.session.get(Customer, pk)
        before = (current.version, current.annual_income)
        form = customer_form(name=current.name, id_number=current.id_number,
                             birth_date=current.birth_date.isoformat(), mobile=current.mobile,
                             email=current.email, risk_tolerance=current.risk_tolerance,
                             annual_income=income)
        form.update({"expected_version": str(current.version),
                     "branch": str(world.branches["B1"]), "owner": str(world.staff["rm1"])})
    form["csrf_token"] = csrf_token(client, url)
    response = client.post(url, data=form)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)  # the field's own message
    with app.app_context():
        after = db.session.get(Customer, pk)
        assert (after.version, after.annual_income) == before


def test_malformed_id_number_gets_a_specific_message(app, client_as):
    client = client_as("rm1")
    before = count(app, Customer)
    bad_check_digit = make_prc_id(BIRTH, 78)[:-1] + ("0" if make_prc_id(BIRTH, 78)[-1] != "0"
                                                       else "1")
    cases = {
        "11010119880615": "18",  # too short
        bad_check_digit: "check",
        make_prc_id(dt.date(1990, 1, 1), 79): "birth date",  # disagrees with birth_date field
    }
    for id_number, hint in cases.items():
        response = post_form(client, "/customers/add", customer_form(
            name="坏证件", id_number=id_number))
        body = response.get_data(as_text=True)
        assert response.status_code == 200, id_number
        assert 'id="id_number"' in body
        assert "has-error" in body or "help-block" in body, id_number
    assert count(app, Customer, Customer.name == "坏证件") == 0
    assert count(app, Customer) == before


def test_bad_mobile_and_email_rejected(app, client_as):
    client = client_as("rm1")
    response = post_form(client, "/customers/add", customer_form(
        name="坏手机", mobile="12345", email="not-an-email"))
    assert response.status_code == 200
    assert count(app, Customer, Customer.name == "坏手机") == 0


def test_negative_balance_is_refused(app, world, client_as):
    client = client_as("rm1")
    before = count(app, Account)
    response = post_form(client, "/accounts/add", {
        "customer": "T000000001", "account_no": "6222999900001111", "product":
        str(world.product_id), "balance": "-5.00", "currency": "CNY",
        "opened_on": "2026-01-01", "status": "open"})
    assert response.status_code == 200
    assert "-5.00" in response.get_data(as_text=True)  # the form comes back with the input
    assert count(app, Account) == before


def test_interaction_for_customer_out_of_scope_is_refused(app, world, client_as):
    """rm1 cannot record an interaction against rm3's customer number: it is 'not found'."""
    client = client_as("rm1")
    before = count(app, Interaction)
    response = post_form(client, "/interactions/add", {
        "customer": "T000000003", "channel": "phone", "direction": "outbound",
        "topic": "inquiry", "summary": "越权记录"})
    assert response.status_code == 200
    assert count(app, Interaction) == before


def test_interaction_recorded_from_the_360_button(app, world, client_as):
    client = client_as("rm1")
    form_url = "/interactions/add?customer_no=T000000001"
    page = client.get(form_url).get_data(as_text=True)
    assert 'value="T000000001"' in page  # prefilled from the 360 page's button
    response = post_form(client, form_url, {
        "customer": "T000000001", "channel": "phone", "direction": "outbound",
        "topic": "complaint", "summary": "客户投诉手续费", "satisfaction": "2"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        saved = db.session.scalars(
            select(Interaction).where(Interaction.summary == "客户投诉手续费")).one()
        assert saved.complaint is True and saved.staff_id == world.staff["rm1"]


def test_stale_edit_is_refused(app, world, client_as):
    """Optimistic locking: an edit based on an older version does not overwrite a newer one."""
    client = client_as("rm1")
    pk = world.customers["c_rm1"]
    url = f"/customers/edit/{pk}"
    token = csrf_token(client, url)
    with app.app_context():
        customer = db.session.get(Customer, pk)
        stale_version = customer.version
        customer.occupation = "并发修改"
        db.session.commit()
        current = db.session.get(Customer, pk)
        data = {c.name: getattr(current, c.name) for c in Customer.__table__.columns}
        data.update(id_number=current.id_number, mobile=current.mobile, email=current.email)
    # Reviewed fields (risk tolerance included) as they are: rm1 is a maker, so only an edit of
    # other fields applies at once rather than becoming a change request.
    form = customer_form(name=data["name"], id_number=data["id_number"],
                         birth_date=data["birth_date"].isoformat(), occupation="我的修改",
                         mobile=data["mobile"], email=data["email"],
                         risk_tolerance=data["risk_tolerance"])
    form.update({"expected_version": str(stale_version), "csrf_token": token,
                 "branch": str(world.branches["B1"]), "owner": str(world.staff["rm1"])})
    response = client.post(url, data=form)
    assert response.status_code in (200, 302)
    with app.app_context():
        assert db.session.get(Customer, pk).occupation == "并发修改"
    # Control: the same form with the current version is accepted, so the refusal above was
    # the version check and not some other invalid field.
    form.update({"expected_version": str(stale_version + 1),
                 "csrf_token": csrf_token(client, url)})
    assert client.post(url, data=form).status_code == 302
    with app.app_context():
        assert db.session.get(Customer, pk).occupation == "我的修改"


def test_next_customer_number_ignores_numbers_of_another_shape(app, db_session, world):
    """An imported "CMZ999999" sorts above every "C" + 9 digits number: the next number must
    still follow the highest real one (it restarted at C000000001, a duplicate, before)."""
    from backoffice.customers.rules import next_customer_no

    birth = dt.date(1980, 1, 2)
    with app.test_request_context():
        db_session.add_all([
            Customer(customer_no="C899999990", name="编号甲", branch_id=world.branches["B1"],
                     id_number=make_prc_id(birth, 801)),
            Customer(customer_no="CMZ999999", name="编号乙", branch_id=world.branches["B1"],
                     id_number=make_prc_id(birth, 802)),
        ])
        db_session.flush()
        try:
            assert next_customer_no() == "C899999991"
        finally:
            db_session.rollback()
