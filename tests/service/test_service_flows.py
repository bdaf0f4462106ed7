"""Loan notices, complaint handling and the daily reminders (escalation, digest)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from backoffice.service import complaints, loans
from backoffice.messaging.consent import record_consent
from backoffice.service.reminders import escalate_overdue_inquiries, send_digests
from models import Complaint, Customer, FollowUp, Interaction, LoanApplication
from tests.greetings.conftest import make_customers


@pytest.fixture
def customer(db_session, world):
    ids = make_customers(db_session, world, 1, birth=dt.date(1979, 1, 2), channel=None,
                         prefix="S")
    yield db_session.get(Customer, ids[0])
    db_session.rollback()
    for model in (LoanApplication, Complaint, FollowUp, Interaction):
        db_session.execute(delete(model).where(model.customer_id == ids[0]))
    from models.consent import Consent

    db_session.execute(delete(Consent).where(Consent.customer_id == ids[0]))
    db_session.execute(delete(Customer).where(Customer.id == ids[0]))
    db_session.commit()


def test_each_loan_status_change_notifies_on_a_consented_channel_and_is_logged(
        db_session, customer, channel_config, sms_gateway):
    """Review, approval, disbursement: three SMS with the right text, three interactions."""
    record_consent(customer, "sms", "service", source="loan form")
    application = LoanApplication(application_no="LN-T-0001", customer_id=customer.id,
                                  amount=Decimal("200000.00"), status="submitted")
    db_session.add(application)
    db_session.commit()
    for status in ("under_review", "approved", "disbursed"):
        loans.change_status(db_session, channel_config, application, status)
        db_session.commit()
    texts = [m["text"] for m in sms_gateway.recorder.snapshot()]
    assert len(texts) == 3 and "200,000.00" in texts[1] and "已发放" in texts[2]
    assert application.decided_at and application.disbursed_at
    logged = db_session.scalars(select(Interaction.topic).where(
        Interaction.customer_id == customer.id)).all()
    assert logged == ["loan_progress"] * 3
    with pytest.raises(loans.TransitionRefused):
        loans.change_status(db_session, channel_config, application, "approved")


def test_no_service_consent_means_no_loan_notice(db_session, customer, channel_config,
                                                  sms_gateway):
    """Marketing consent alone does not cover service notices."""
    record_consent(customer, "sms", "marketing", source="campaign")
    application = LoanApplication(application_no="LN-T-0002", customer_id=customer.id,
                                  amount=Decimal("5000.00"), status="submitted")
    db_session.add(application)
    db_session.commit()
    assert loans.change_status(db_session, channel_config, application, "under_review") is None
    assert sms_gateway.recorder.snapshot() == []


def test_complaint_walks_its_states_with_times_and_feeds_the_stats(
        db_session, world, customer, app):
    """Open → assigned (task due by working-day SLA) → resolved → re-checked; stats count it."""
    complaint = complaints.open_complaint(db_session, app.config, customer, "柜台等候时间过长")
    db_session.flush()
    task = complaints.assign(db_session, app.config, complaint, world.staff["rm1"])
    with pytest.raises(complaints.ComplaintRefused):
        complaints.recheck(db_session, complaint, 4)
    complaints.resolve(db_session, complaint, "已致歉并优化排队")
    complaints.recheck(db_session, complaint, 4, "满意")
    db_session.commit()
    assert task.task_type == "complaint_resolution" and task.status == "done"
    assert complaint.opened_at <= complaint.assigned_at <= complaint.resolved_at
    assert complaint.rechecked_at and complaint.status == "rechecked"
    stats = complaints.complaint_stats(db_session, since=complaint.opened_at)
    assert stats["total"] >= 1 and stats["mean_recheck_satisfaction"] is not None


def test_overdue_inquiries_escalate_to_the_branch_manager_once(db_session, world, customer):
    """An inquiry past due goes to bm1 (branch B1) as a new task; a re-run adds nothing."""
    inquiry = FollowUp(customer_id=customer.id, assignee_id=world.staff["rm1"],
                       title="回复理财咨询", task_type="inquiry_answer", status="open",
                       due_at=dt.datetime(2026, 3, 2, 9, 30))
    db_session.add(inquiry)
    db_session.commit()
    now = dt.datetime(2026, 3, 3, 1, 0)
    assert escalate_overdue_inquiries(db_session, now) >= 1
    assert escalate_overdue_inquiries(db_session, now) == 0
    db_session.refresh(inquiry)
    assert inquiry.escalated_to_id == world.staff["bm1"] and inquiry.escalated_at == now
    raised = db_session.scalars(select(FollowUp).where(
        FollowUp.customer_id == customer.id, FollowUp.source == "sla")).one()
    assert raised.assignee_id == world.staff["bm1"] and raised.title == "回复理财咨询"
    # the escalation is told by its source, in the reader's language, not by a stored prefix


def test_daily_digest_lists_overdue_and_due_today_tasks_per_assignee(
        db_session, world, customer, channel_config, smtp_server):
    """rm1's digest names the overdue task first and leaves next week's task out."""
    now = dt.datetime(2026, 3, 3, 0, 30)  # 08:30 Shanghai
    for title, due in (("逾期回访", now - dt.timedelta(days=1)),
                       ("今日回访", now + dt.timedelta(hours=5)),
                       ("下周回访", now + dt.timedelta(days=7))):
        db_session.add(FollowUp(customer_id=customer.id, assignee_id=world.staff["rm1"],
                                title=title, task_type="callback", status="open", due_at=due))
    db_session.commit()
    result = send_digests(db_session, channel_config, now)
    mail = next(m for m in smtp_server.recorder.snapshot() if m["to"] == "rm1@example.com")
    assert result["digests_sent"] >= 1
    assert mail["body"].index("逾期回访") < mail["body"].index("今日回访")
    assert "下周回访" not in mail["body"]
