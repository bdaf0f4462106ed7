"""Follow-up tasks get their due time from the task type's SLA in Chinese working days when
whoever creates them (screen, API, a loan status change) leaves it empty."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from backoffice.service import loans, sla
from backoffice.messaging.consent import record_consent
from models import Customer, FollowUp, Interaction, LoanApplication
from tests.greetings.conftest import make_customers
from tests.support.web import api_token, post_form
from tests.support.world import customer_number


def _close_to(actual: dt.datetime, expected: dt.datetime) -> bool:
    """The request computed its own "now" a moment after the test's."""
    return abs(actual - expected) <= dt.timedelta(minutes=1)


@pytest.fixture
def cleanup_tasks(db_session):
    titles: list[str] = []
    yield titles
    db_session.rollback()
    db_session.execute(delete(FollowUp).where(FollowUp.title.in_(titles)))
    db_session.commit()


def test_default_due_counts_working_days_over_national_day(app):
    """Tasks opened on 30 Sept 2026 fall due after the Golden Week (1-7 Oct), and the adjusted
    working Saturday 10 Oct counts as a working day."""
    created = dt.datetime(2026, 9, 30, 2, 0)  # 10:00 in Shanghai
    assert sla.default_due("callback", app.config, created) == dt.datetime(2026, 10, 8, 9, 30)
    assert sla.default_due("inquiry_answer", app.config, created) == dt.datetime(
        2026, 10, 9, 9, 30)
    assert sla.default_due("retention", app.config, created) == dt.datetime(2026, 10, 10, 9, 30)


def test_screen_follow_up_without_due_gets_the_sla(client_as, world, db_session, app,
                                                   cleanup_tasks):
    """rm1 adds a callback with the due field empty: due = one working day, end of day."""
    title = "SLA screen callback"
    cleanup_tasks.append(title)
    client = client_as("rm1")
    expected = sla.default_due("callback", app.config)
    response = post_form(client, "/followups/add", {
        "customer": customer_number(world, "c_rm1"), "title": title,
        "task_type": "callback", "due_at": "", "notes": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    task = db_session.scalars(select(FollowUp).where(FollowUp.title == title)).one()
    assert _close_to(task.due_at, expected)
    assert task.assignee_id == world.staff["rm1"] and task.status == "open"


def test_screen_follow_up_keeps_a_due_date_the_user_typed(client_as, world, db_session,
                                                          cleanup_tasks):
    """An explicit due date is the user's decision, not replaced by the SLA."""
    title = "SLA screen explicit"
    cleanup_tasks.append(title)
    client = client_as("rm1")
    response = post_form(client, "/followups/add", {
        "customer": customer_number(world, "c_rm1"), "title": title,
        "task_type": "retention", "due_at": "2031-03-03 09:00:00", "notes": ""})
    assert response.status_code == 302
    task = db_session.scalars(select(FollowUp).where(FollowUp.title == title)).one()
    assert task.due_at.date() == dt.date(2031, 3, 3)


def test_api_follow_up_without_due_gets_the_sla(client, world, db_session, app, cleanup_tasks):
    """POST /api/v1/followup/ without ``due_at``: 201 and the inquiry-answer SLA."""
    title = "SLA api inquiry"
    cleanup_tasks.append(title)
    token = api_token(client, "rm1")
    expected = sla.default_due("inquiry_answer", app.config)
    response = client.post("/api/v1/followup/", json={
        "customer": world.customers["c_rm1"], "title": title, "task_type": "inquiry_answer"},
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.get_data(as_text=True)
    task = db_session.scalars(select(FollowUp).where(FollowUp.title == title)).one()
    assert _close_to(task.due_at, expected)


def test_api_refuses_a_follow_up_on_an_unseen_customer(client, world, db_session,
                                                       cleanup_tasks):
    """The SLA default does not open a way around the scope: rm1 cannot task c_rm3."""
    title = "SLA api unseen"
    cleanup_tasks.append(title)
    token = api_token(client, "rm1")
    response = client.post("/api/v1/followup/", json={
        "customer": world.customers["c_rm3"], "title": title, "task_type": "callback"},
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (404, 422)
    assert db_session.scalars(select(FollowUp).where(FollowUp.title == title)).first() is None


@pytest.fixture
def loan_customer(db_session, world):
    ids = make_customers(db_session, world, 1, birth=dt.date(1980, 5, 6), channel=None,
                         prefix="L")
    yield db_session.get(Customer, ids[0])
    db_session.rollback()
    for model in (FollowUp, Interaction, LoanApplication):
        db_session.execute(delete(model).where(model.customer_id == ids[0]))
    from models.consent import Consent

    db_session.execute(delete(Consent).where(Consent.customer_id == ids[0]))
    db_session.execute(delete(Customer).where(Customer.id == ids[0]))
    db_session.commit()


def _loan(db_session, customer, number, officer_id=None):
    application = LoanApplication(application_no=number, customer_id=customer.id,
                                  amount=Decimal("80000.00"), status="submitted",
                                  officer_id=officer_id)
    db_session.add(application)
    db_session.commit()
    return application


def test_loan_step_without_a_consented_channel_opens_a_progress_task(
        db_session, world, loan_customer, channel_config, sms_gateway):
    """No service consent: nobody was told, so the officer gets a loan-progress-notice task due
    in one working day (SLA), with the notice text to pass on."""
    application = _loan(db_session, loan_customer, "LN-SLA-0001", world.staff["rm2"])
    expected = sla.default_due("loan_progress", channel_config)
    assert loans.change_status(db_session, channel_config, application, "under_review") is None
    db_session.commit()
    task = db_session.scalars(select(FollowUp).where(
        FollowUp.customer_id == loan_customer.id)).one()
    assert task.task_type == "loan_progress" and task.assignee_id == world.staff["rm2"]
    assert "LN-SLA-0001" in task.title and "审核" in task.notes
    assert _close_to(task.due_at, expected)
    assert sms_gateway.recorder.snapshot() == []


def test_delivered_loan_notice_needs_no_task_but_a_rejection_does(
        db_session, world, loan_customer, channel_config, sms_gateway):
    """With service consent the review notice goes by SMS and no task is opened; the rejection
    is sent too and also opens a task (for the owner: no officer) linked to the interaction."""
    record_consent(loan_customer, "sms", "service", source="loan form")
    application = _loan(db_session, loan_customer, "LN-SLA-0002")
    loans.change_status(db_session, channel_config, application, "under_review")
    db_session.commit()
    assert db_session.scalars(select(FollowUp).where(
        FollowUp.customer_id == loan_customer.id)).all() == []
    interaction = loans.change_status(db_session, channel_config, application, "rejected")
    db_session.commit()
    task = db_session.scalars(select(FollowUp).where(
        FollowUp.customer_id == loan_customer.id)).one()
    assert task.task_type == "loan_progress" and task.assignee_id == world.staff["rm1"]
    assert task.interaction_id == interaction.id
    assert len(sms_gateway.recorder.snapshot()) == 2


def test_a_notice_the_gateway_refused_opens_a_progress_task(
        db_session, world, loan_customer, channel_config):
    """Consent is there but the SMS gateway is unreachable: the interaction records NOT SENT and
    the officer gets the task, so the customer is still told."""
    from tests.greetings.servers import free_port

    record_consent(loan_customer, "sms", "service", source="loan form")
    application = _loan(db_session, loan_customer, "LN-SLA-0003", world.staff["rm2"])
    previous = channel_config["CRM_SMS_GATEWAY_URL"]
    channel_config["CRM_SMS_GATEWAY_URL"] = f"http://127.0.0.1:{free_port()}/sms"
    try:
        interaction = loans.change_status(db_session, channel_config, application,
                                          "under_review")
    finally:
        channel_config["CRM_SMS_GATEWAY_URL"] = previous
    db_session.commit()
    assert "NOT SENT" in interaction.summary
    task = db_session.scalars(select(FollowUp).where(
        FollowUp.customer_id == loan_customer.id)).one()
    assert task.task_type == "loan_progress" and task.interaction_id == interaction.id
