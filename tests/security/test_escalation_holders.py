"""Escalations reach whoever holds the escalation grant in the customer's branch, by permission.

A role is data: a bank may name its branch heads differently or hand the duty to a deputy. The
target is found from ``ESCALATION_TARGET`` in ``config/roles.py``, never from a role's name.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import literal, select

from backoffice.extensions import db
from backoffice.security.holders import escalation_target_in
from backoffice.service.reminders import escalate_overdue_inquiries
from config.roles import ESCALATION_TARGET, ROLES
from models import Customer, FollowUp
from models.base import utcnow


def _target(branch_id: int):
    return db.session.execute(select(escalation_target_in(literal(branch_id)))).scalar()


@pytest.fixture
def deputy_instead_of_manager(app, world):
    """A role named nothing like a manager holds the duty in B1; BranchManager loses it."""
    sm = app.appbuilder.sm
    [(permission, view)] = ESCALATION_TARGET
    with app.app_context():
        grant = sm.add_permission_view_menu(permission, view)
        manager = sm.find_role("BranchManager")
        deputy_role = sm.find_role("值班主管") or sm.add_role("值班主管")
        sm.add_permission_role(deputy_role, grant)
        manager.permissions.remove(grant)
        deputy = sm.add_user(username="deputy_b1", first_name="主管", last_name="值班",
                             email="deputy_b1@example.com", role=deputy_role,
                             password="Deputy-Passw0rd!2026")
        deputy.branch_id = world.branches["B1"]
        db.session.commit()
        deputy_id = deputy.id
    yield deputy_id
    with app.app_context():
        manager = sm.find_role("BranchManager")
        manager.permissions.append(sm.add_permission_view_menu(permission, view))
        db.session.delete(db.session.get(type(sm.find_user(username="deputy_b1")), deputy_id))
        db.session.delete(sm.find_role("值班主管"))
        db.session.commit()


def test_the_branch_manager_holds_the_duty_as_configured(app, world):
    assert ESCALATION_TARGET[0] in ROLES["BranchManager"]["permissions"]
    with app.app_context():
        assert _target(world.branches["B1"]) == world.staff["bm1"]


def test_a_renamed_role_with_the_grant_receives_and_the_named_role_without_it_does_not(
        app, world, deputy_instead_of_manager):
    with app.app_context():
        assert _target(world.branches["B1"]) == deputy_instead_of_manager
        # BranchManager no longer holds the duty: B2, with no deputy, has no target at all.
        assert _target(world.branches["B2"]) is None


def test_an_overdue_inquiry_escalates_to_the_holder(app, world, deputy_instead_of_manager):
    with app.app_context():
        customer = db.session.get(Customer, world.customers["c_rm1"])
        now = utcnow()
        task = FollowUp(customer_id=customer.id, assignee_id=world.staff["rm1"],
                        title="回复客户咨询", task_type="inquiry_answer", status="open",
                        source="sla", due_at=now - dt.timedelta(days=2), created_at=now)
        db.session.add(task)
        db.session.commit()
        created = [task.id]
        try:
            escalate_overdue_inquiries(db.session, now)
            db.session.refresh(task)
            assert task.escalated_to_id == deputy_instead_of_manager
            opened = db.session.execute(
                select(FollowUp).where(FollowUp.customer_id == customer.id,
                                       FollowUp.assignee_id == deputy_instead_of_manager)
            ).scalars().all()
            assert len(opened) == 1
            created += [row.id for row in opened]
        finally:
            db.session.execute(FollowUp.__table__.delete().where(FollowUp.id.in_(created)))
            db.session.commit()
