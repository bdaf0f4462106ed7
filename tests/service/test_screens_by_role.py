"""Who reaches which greetings and service screen, and what each role sees and may change there:
complaints (transitions), loan applications, consents, service flags, occasions, templates,
offers and the dispatch log. Out-of-scope records answer 404 and stay unchanged."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, select

from backoffice.extensions import db
from models import Complaint, Customer, FollowUp, Interaction, LoanApplication
from tests.greetings.conftest import make_customers
from tests.support.web import csrf_token, post_form

SERVICE_SCREENS = ["/service/complaints/list/", "/service/loans/list/",
                   "/service/consents/list/", "/service/flags/list/",
                   "/greetings/dispatches/list/", "/service/counter/"]
CONFIG_SCREENS = ["/greetings/occasions/list/", "/greetings/templates/list/",
                  "/greetings/offers/list/"]
SERVES_CUSTOMERS = {"senior", "bm1", "bm2", "rm1", "rm2", "rm3", "teller1"}
CONFIGURES = {"admin", "senior"}
ALL_STAFF = ["admin", "senior", "bm1", "bm2", "rm1", "rm2", "rm3", "teller1", "operator",
             "auditor"]


@pytest.mark.parametrize("username", ALL_STAFF)
def test_each_role_reaches_exactly_its_screens(client_as, world, username):
    """Staff who serve customers work the service screens; admins and seniors configure the
    occasions, templates and offers; operators and auditors reach none of them."""
    client = client_as(username)
    for url, allowed in ([(u, username in SERVES_CUSTOMERS) for u in SERVICE_SCREENS]
                         + [(u, username in CONFIGURES) for u in CONFIG_SCREENS]):
        status = client.get(url).status_code
        assert (status == 200) == allowed, (username, url, status)


@pytest.fixture
def two_branches(db_session, world):
    """A customer of rm1 in B1 and one of rm3 in B2, each with a complaint and a loan."""
    b2 = SimpleNamespace(branches={"B1": world.branches["B2"]}, staff={"rm1": world.staff["rm3"]})
    ids = {"b1": make_customers(db_session, world, 1, birth=dt.date(1970, 3, 3), channel=None,
                                prefix="RB")[0],
           "b2": make_customers(db_session, b2, 1, birth=dt.date(1970, 3, 3), channel=None,
                                prefix="RB")[0]}
    records = {}
    for key, customer_id in ids.items():
        complaint = Complaint(customer_id=customer_id, summary=f"排队太久 {key}", status="open")
        loan = LoanApplication(customer_id=customer_id, application_no=f"LN-ROLE-{key}",
                               amount=Decimal("30000.00"), status="submitted")
        db_session.add_all([complaint, loan])
        db_session.flush()
        records[key] = SimpleNamespace(customer=customer_id, complaint=complaint.id,
                                       loan=loan.id,
                                       name=db_session.get(Customer, customer_id).name)
    db_session.commit()
    yield records
    db_session.rollback()
    for model in (Complaint, LoanApplication, FollowUp, Interaction):
        db_session.execute(delete(model).where(model.customer_id.in_(ids.values())))
    from models.consent import Consent

    db_session.execute(delete(Consent).where(Consent.customer_id.in_(ids.values())))
    db_session.execute(delete(Customer).where(Customer.id.in_(ids.values())))
    db_session.commit()


def _act(client, token, screen, name, pk, **kwargs):
    """A list action on one row, as the list page's form posts it."""
    return client.post(f"/service/{screen}/action_post", data={
        "action": name, "rowid": [str(pk)], "csrf_token": token}, **kwargs)


def _status(model, pk):
    db.session.expire_all()
    return db.session.get(model, pk).status


@pytest.mark.parametrize("username,sees", [
    ("senior", {"b1", "b2"}), ("bm1", {"b1"}), ("bm2", {"b2"}), ("rm1", {"b1"}),
    ("rm3", {"b2"}), ("rm2", set()), ("teller1", set())])
def test_complaint_and_loan_lists_are_scoped(client_as, two_branches, username, sees):
    """A branch manager sees only their branch's complaints and loans; a manager only their
    own customers'; the show page of any other answers 404."""
    client = client_as(username)
    complaints = client.get("/service/complaints/list/?psize_ComplaintView=100")
    loans = client.get("/service/loans/list/?psize_LoanApplicationView=100")
    for key, record in two_branches.items():
        body = complaints.get_data(as_text=True) + loans.get_data(as_text=True)
        assert (record.name in body) == (key in sees), (username, key)
        show = client.get(f"/service/complaints/show/{record.complaint}")
        assert show.status_code == (200 if key in sees else 404)
        show = client.get(f"/service/loans/show/{record.loan}")
        assert show.status_code == (200 if key in sees else 404)


def test_complaint_walks_its_states_through_the_screen(app, client_as, world, two_branches):
    """rm1 assigns their customer's complaint to themself (a resolution task due by the SLA),
    enters the resolution, marks it resolved, records the re-check; every step is timed."""
    record = two_branches["b1"]
    client = client_as("rm1")
    token = csrf_token(client, "/service/complaints/list/")
    response = _act(client, token, "complaints", "assign_to_me", record.complaint)
    assert response.status_code == 302
    with app.app_context():
        assert _status(Complaint, record.complaint) == "assigned"
        task = db.session.scalars(select(FollowUp).where(
            FollowUp.customer_id == record.customer)).one()
        assert task.task_type == "complaint_resolution"
        assert task.assignee_id == world.staff["rm1"]
    # Resolving before a resolution is entered is refused with a message, nothing changes.
    _act(client, token, "complaints", "resolve", record.complaint)
    with app.app_context():
        assert _status(Complaint, record.complaint) == "assigned"
    post_form(client, f"/service/complaints/edit/{record.complaint}",
              {"summary": "排队太久 b1", "resolution": "已增加窗口", "recheck_satisfaction": "4",
               "recheck_notes": "满意"})
    _act(client, token, "complaints", "resolve", record.complaint)
    _act(client, token, "complaints", "recheck", record.complaint)
    with app.app_context():
        complaint = db.session.get(Complaint, record.complaint)
        assert complaint.status == "rechecked" and complaint.recheck_satisfaction == 4
        assert complaint.opened_at <= complaint.assigned_at <= complaint.resolved_at
        assert complaint.rechecked_at is not None
        assert db.session.get(FollowUp, task.id).status == "done"


@pytest.mark.parametrize("username", ["rm1", "bm1", "teller1"])
def test_transitions_on_unseen_records_answer_404_and_change_nothing(
        app, client_as, two_branches, username):
    """Complaint and loan actions on another branch's records: 404, status unchanged."""
    record = two_branches["b2"]
    client = client_as(username)
    token = csrf_token(client, "/service/complaints/list/")
    assert _act(client, token, "complaints", "assign_to_me", record.complaint).status_code == 404
    assert _act(client, token, "loans", "review", record.loan).status_code == 404
    with app.app_context():
        assert _status(Complaint, record.complaint) == "open"
        assert _status(LoanApplication, record.loan) == "submitted"


def test_branch_manager_moves_a_loan_and_a_refused_step_is_a_message(
        app, client_as, two_branches):
    """bm1 starts the review of a B1 loan (a notice task, as nobody consented); approving a
    disbursed-only step out of order is refused with a message, not a 500."""
    record = two_branches["b1"]
    client = client_as("bm1")
    token = csrf_token(client, "/service/loans/list/")
    assert _act(client, token, "loans", "review", record.loan).status_code == 302
    assert _act(client, token, "loans", "disburse", record.loan).status_code == 302
    page = client.get("/service/loans/list/").get_data(as_text=True)
    assert "LN-ROLE-b1:" in page  # the flashed refusal names the record
    with app.app_context():
        assert _status(LoanApplication, record.loan) == "under_review"
        task = db.session.scalars(select(FollowUp).where(
            FollowUp.customer_id == record.customer)).one()
        assert task.task_type == "loan_progress"


def test_consent_screen_records_and_withdraws_within_scope(app, client_as, world, two_branches):
    """rm1 records a grant for their customer; the withdrawal closes it and keeps a refusal.
    rm1 cannot record consent for rm3's customer."""
    from models.consent import Consent

    record = two_branches["b1"]
    client = client_as("rm1")
    number = lambda key: db.session.get(Customer, two_branches[key].customer).customer_no  # noqa: E731
    with app.app_context():
        own, foreign = number("b1"), number("b2")
    response = post_form(client, "/service/consents/add", {
        "customer": own, "channel": "email", "purpose": "greeting", "granted": "y",
        "source": "counter form"})
    assert response.status_code == 302
    with app.app_context():
        grant = db.session.scalars(select(Consent).where(
            Consent.customer_id == record.customer)).one()
        assert grant.granted and grant.withdrawn_at is None
    token = csrf_token(client, "/service/consents/list/")
    _act(client, token, "consents", "withdraw", grant.id)
    with app.app_context():
        rows = db.session.scalars(select(Consent).where(
            Consent.customer_id == record.customer).order_by(Consent.id)).all()
        assert [r.granted for r in rows] == [True, False]
        assert rows[0].withdrawn_at is not None and rows[1].withdrawn_at is None
    post_form(client, "/service/consents/add", {
        "customer": foreign, "channel": "email", "purpose": "greeting", "granted": "y",
        "source": "counter form"})
    with app.app_context():
        assert db.session.scalars(select(Consent).where(
            Consent.customer_id == two_branches["b2"].customer)).all() == []


def test_only_configurers_change_occasions(app, client_as):
    """An RM may not edit an occasion's lead time (no write permission); a senior may."""
    from models import Occasion

    with app.app_context():
        occasion = db.session.scalars(select(Occasion).where(Occasion.code == "birthday")).one()
        pk, lead = occasion.id, occasion.lead_days
    rm = client_as("rm1")
    assert rm.get(f"/greetings/occasions/edit/{pk}").status_code != 200
    assert client_as("senior").get(f"/greetings/occasions/edit/{pk}").status_code == 200
    with app.app_context():
        assert db.session.get(Occasion, pk).lead_days == lead
