"""Retention tasks from warnings: due dates on the Chinese calendar, and escalation of overdue
P1 tasks to the branch manager, exactly once.

Uses the shared world's customers c_rm1 (branch B1, owner rm1, branch manager bm1) and c_rm3
(branch B2); every score and task made here is deleted afterwards.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

AS_OF = dt.datetime(2026, 3, 2, 2, 0)  # Monday 10:00 in Shanghai


@pytest.fixture
def warned(app, world):
    """c_rm1 scored P1 and c_rm3 scored P2 (no tasks yet); cleaned up afterwards."""
    from backoffice.churn.writer import write_scores
    from backoffice.extensions import db
    from models import FollowUp
    from models.churn import ChurnScore
    from models.notifications import Notification

    ids = {key: world.customers[key] for key in ("c_rm1", "c_rm3")}
    with app.app_context():
        write_scores(db.session, [
            {"customer_id": ids[key], "model_id": None, "probability": p, "risk_band": "high",
             "value_band": value, "warning_tier": tier, "reasons": [], "signals": [],
             "scored_at": AS_OF}
            for key, p, value, tier in (("c_rm1", 0.8, "high", "P1"),
                                        ("c_rm3", 0.7, "medium", "P2"))])
        db.session.commit()
        yield db.session, ids
        db.session.rollback()
        made = select(FollowUp.id).where(FollowUp.customer_id.in_(ids.values()),
                                         FollowUp.task_type == "retention")
        # the tasks' notices too: left behind, they stay on rm1's and bm1's notifications pages
        db.session.execute(delete(Notification).where(
            Notification.entity == "FollowUp", Notification.entity_id.in_(made),
            Notification.customer_id.in_(ids.values())))
        db.session.execute(delete(FollowUp).where(FollowUp.customer_id.in_(ids.values()),
                                                  FollowUp.task_type == "retention"))
        db.session.execute(delete(ChurnScore).where(ChurnScore.customer_id.in_(ids.values())))
        db.session.commit()
        db.session.remove()


def _retention_tasks(session, customer_id):
    from models import FollowUp

    return session.execute(select(FollowUp).where(
        FollowUp.customer_id == customer_id, FollowUp.task_type == "retention")
        .order_by(FollowUp.id)).scalars().all()


def test_working_days_come_from_the_chinese_calendar():
    """Two working days after 30 Sep 2025 skip the National Day week (1-8 Oct): 10 Oct."""
    from backoffice.churn.tasks import add_working_days

    assert add_working_days(dt.date(2025, 9, 30), 2) == dt.date(2025, 10, 10)
    assert add_working_days(dt.date(2025, 9, 26), 1) == dt.date(2025, 9, 28)  # 调休 Sunday


def test_overdue_p1_task_escalates_to_the_branch_manager_exactly_once(warned, world):
    """A P1 task past its due time gives bm1 one task; later runs add nothing, P2 never does."""
    from backoffice.churn import tasks

    session, ids = warned
    ids_range = sorted(ids.values())
    created = sum(tasks.create_retention_tasks(session, AS_OF, c, c) for c in ids_range)
    session.commit()
    assert created == 2
    p1_task = _retention_tasks(session, ids["c_rm1"])[0]
    assert p1_task.assignee_id == world.staff["rm1"]
    assert p1_task.due_at == dt.datetime(2026, 3, 4, 9, 30)  # Wednesday 17:30 local

    assert tasks.escalate_overdue(session, p1_task.due_at - dt.timedelta(minutes=1)) == 0
    later = p1_task.due_at + dt.timedelta(days=1)
    assert tasks.escalate_overdue(session, later) == 1
    session.commit()
    assert tasks.escalate_overdue(session, later + dt.timedelta(days=3)) == 0
    session.commit()

    escalations = [t for t in _retention_tasks(session, ids["c_rm1"]) if t.source == "sla"]
    assert len(escalations) == 1
    assert escalations[0].assignee_id == world.staff["bm1"]
    assert escalations[0].status == "open" and escalations[0].due_at > later
    assert [t.source for t in _retention_tasks(session, ids["c_rm3"])] == ["churn"]
    # Scoring again while the task is open adds no second retention task.
    assert tasks.create_retention_tasks(session, later, ids["c_rm1"], ids["c_rm1"]) == 0
