"""A task the system names tells its assignee in the assignee's language, whoever created it.

The churn job opens retention tasks and escalates overdue P1 ones to the branch manager; a
complaint's resolution task is titled by the service room. Those titles were translated when
the task was written (the job in the default language, Chinese), and the assignee's notice
took the translated title as its parameter, so an English reader's notifications page showed
"升级：P1 挽留跟进已逾期". The notice now keeps the title's message id
(``FollowUp.title_key``, which ``tasks_inserted`` reads) and is translated when read.
Everything here is created outside a request, as the jobs do.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import delete, select

AS_OF = dt.datetime(2026, 3, 2, 2, 0)  # Monday 10:00 in Shanghai


@pytest.fixture
def newest_notice(app):
    """The id of the newest notification before the test (0 if none)."""
    from sqlalchemy import func

    from backoffice.extensions import db
    from models.notifications import Notification

    with app.app_context():
        newest = db.session.scalar(select(func.max(Notification.id))) or 0
        db.session.remove()
    return newest


@pytest.fixture
def forget_notices(app, newest_notice):
    """The test's notifications about the customers listed (``forget_notices.append(id)``) and
    their complaints are deleted afterwards, so no reader's page keeps this test's notices."""
    from backoffice.extensions import db
    from models.complaints import Complaint
    from models.notifications import Notification

    customers: list[int] = []
    yield customers
    with app.app_context():
        db.session.execute(delete(Notification).where(Notification.customer_id.in_(customers),
                                                      Notification.id > newest_notice))
        db.session.execute(delete(Complaint).where(Complaint.customer_id.in_(customers)),
                           execution_options={"crm_unscoped": True})
        db.session.commit()
        db.session.remove()


def _notices_about(customer_id, task_ids, after):
    """(notification id, recipient's username, stored message, task id) of each task's notice.

    Only notices newer than ``after`` (the newest before the test): SQLite reuses the ids of
    deleted tasks and customers, and another test's notices about them may remain."""
    from backoffice.extensions import db
    from models import Staff
    from models.notifications import Notification
    return db.session.execute(
        select(Notification.id, Staff.username, Notification.message, Notification.entity_id)
        .join(Staff, Staff.id == Notification.recipient_id)
        .where(Notification.entity == "FollowUp", Notification.entity_id.in_(task_ids),
               Notification.customer_id == customer_id, Notification.id > after)
        .order_by(Notification.entity_id)).all()


def _row_text(page: str, notification_id: int) -> str:
    """The visible text of one notification's row on the notifications page."""
    found = re.search(rf'<tr[^>]*data-id="{notification_id}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, f"notification {notification_id} is not on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def _read_in_both_languages(logged_in, username, notification_id):
    client = logged_in(username, "en")
    english = _row_text(client.get("/notifications/").get_data(as_text=True), notification_id)
    client.get("/lang/zh")
    chinese = _row_text(client.get("/notifications/").get_data(as_text=True), notification_id)
    return english, chinese


def test_churn_tasks_and_their_escalation_notify_in_the_readers_language(
        app, world, new_customer, forget_notices, newest_notice, logged_in):
    from backoffice import stored_text
    from backoffice.churn import tasks
    from backoffice.churn.writer import write_scores
    from backoffice.extensions import db
    from models import FollowUp
    from models.churn import ChurnScore

    customer_id = new_customer(world.staff["rm1"], "B1")
    forget_notices.append(customer_id)
    try:
        with app.app_context():  # no request: the scoring job's situation
            write_scores(db.session, [{
                "customer_id": customer_id, "model_id": None, "probability": 0.8,
                "risk_band": "high", "value_band": "high", "warning_tier": "P1",
                "reasons": [], "signals": [], "scored_at": AS_OF}])
            db.session.commit()
            assert tasks.create_retention_tasks(db.session, AS_OF, customer_id,
                                                customer_id) == 1
            db.session.commit()
            [retention] = db.session.scalars(select(FollowUp.id).where(
                FollowUp.customer_id == customer_id)).all()
            due = db.session.get(FollowUp, retention).due_at
            tasks.escalate_overdue(db.session, due + dt.timedelta(days=1))
            db.session.commit()
            [escalation] = db.session.scalars(select(FollowUp.id).where(
                FollowUp.customer_id == customer_id, FollowUp.source == "sla")).all()
            notices = _notices_about(customer_id, [retention, escalation], newest_notice)
            db.session.remove()

        assert [entity for *_, entity in notices] == [retention, escalation]
        (told_id, told, told_message, _), (raised_id, raised, raised_message, _) = notices
        assert told == "rm1"
        assert stored_text.is_kept(told_message) and stored_text.is_kept(raised_message)
        assert "升级" not in raised_message and "挽留" not in told_message  # message ids only

        english, chinese = _read_in_both_languages(logged_in, raised, raised_id)
        assert "Escalated: overdue P1 retention follow-up" in english
        assert not re.search(r"[\u4e00-\u9fff]", english), english
        assert "升级：P1 挽留跟进已逾期" in chinese and "Escalated" not in chinese

        english, chinese = _read_in_both_languages(logged_in, told, told_id)
        assert "Churn warning P1: retention follow-up" in english
        assert not re.search(r"[\u4e00-\u9fff]", english), english
        assert "流失预警 P1：挽留跟进" in chinese and "retention follow-up" not in chinese
    finally:
        with app.app_context():
            db.session.execute(delete(ChurnScore).where(ChurnScore.customer_id == customer_id))
            db.session.commit()
            db.session.remove()


def test_a_complaint_task_assigned_by_a_job_reads_in_english_too(
        app, world, new_customer, forget_notices, newest_notice, logged_in):
    """The ORM path: the session hook tells the assignee of a task added through the ORM; the
    complaint's task title is a message, the complaint's summary a user's text."""
    from backoffice.extensions import db
    from backoffice.service import complaints
    from models.complaints import Complaint

    customer_id = new_customer(world.staff["rm1"], "B1")
    forget_notices.append(customer_id)
    summary = f"柜台排队太久 {uuid.uuid4().hex[:6]}"
    with app.app_context():
        complaint = Complaint(customer_id=customer_id, summary=summary, status="open")
        db.session.add(complaint)
        db.session.flush()
        task = complaints.assign(db.session, app.config, complaint, world.staff["rm1"])
        db.session.commit()
        complaint_id, task_id = complaint.id, task.id
        assert task.title == f"处理投诉 #{complaint_id}"  # the column: the default language
        [(notice_id, reader, _, _)] = _notices_about(customer_id, [task_id], newest_notice)
        db.session.remove()

    english, chinese = _read_in_both_languages(logged_in, reader, notice_id)
    assert f"Resolve complaint #{complaint_id}" in english
    assert not re.search(r"[\u4e00-\u9fff]", english), english
    assert f"处理投诉 #{complaint_id}" in chinese and "Resolve" not in chinese
