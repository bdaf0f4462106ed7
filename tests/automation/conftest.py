"""A small bank for rule tests: customers of their own, told apart by a marker in their
occupation (every rule's conditions test it), so rules never touch another test's records."""
from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from sqlalchemy import delete, select, update

from backoffice.extensions import db
from tests.support.world import make_prc_id

_serial = itertools.count(1)


@pytest.fixture
def bank(app, world):
    """``bank.customers(n, branch="B1", **overrides)``, ``bank.rule(**values)``; cleaned up."""
    state = Bank(world)
    with app.app_context():
        yield state
        state.cleanup()
        db.session.remove()


class Bank:
    def __init__(self, world):
        self.world = world
        self.marker = f"mk{uuid.uuid4().hex[:10]}"
        self.customer_ids: list[int] = []
        self.rule_ids: list[int] = []
        self.extra: list = []

    def customers(self, count: int, branch: str = "B1", owner: str = "rm1", **overrides):
        from backoffice.messaging.consent import record_consent
        from models import Customer

        ids = []
        values = {"occupation": self.marker, "tier": "mass", "risk_tolerance": "C4",
                  "risk_assessed_on": dt.date.today(), "consent_sms": True, **overrides}
        for _ in range(count):
            n = next(_serial) + 70000 + (uuid.uuid4().int % 900000)
            birth = dt.date(1980, 1 + n % 12, 1 + n % 27)
            customer = Customer(
                customer_no=f"AU{uuid.uuid4().hex[:12]}", name=f"规则{n}",
                customer_type="individual", gender="M", birth_date=birth, id_type="PRC_ID",
                id_number=make_prc_id(birth, n % 999), mobile=f"137{n % 10**8:08d}",
                email=f"rule{n}@example.com", branch_id=self.world.branches[branch],
                owner_id=self.world.staff[owner], status="active", custom_fields={},
                onboarded_on=dt.date(2015, 6, 1), **values)
            db.session.add(customer)
            db.session.flush()
            record_consent(customer, "sms", "service", source="test")
            ids.append(customer.id)
        db.session.commit()
        self.customer_ids += ids
        return ids

    def conditions(self):
        return {"op": "and", "items": [
            {"field": "customer.occupation", "op": "eq", "value": self.marker}]}

    def rule(self, **values):
        from models.automation import AutomationRule

        values.setdefault("name", f"测试规则 {self.marker}")
        values.setdefault("conditions", self.conditions())
        values.setdefault("enabled", True)
        values.setdefault("approval", "none")
        values.setdefault("created_by_id", self.world.staff["senior"])
        rule = AutomationRule(**values)
        db.session.add(rule)
        db.session.commit()
        self.rule_ids.append(rule.id)
        return rule

    def cleanup(self):
        from models import (ChangeRequest, Complaint, Customer, FollowUp, Interaction,
                            SegmentMembership)
        from models.automation import (AutomationFire, AutomationMessage, AutomationRule,
                                       AutomationRun, AutomationRunItem)
        from models.consent import Consent

        db.session.rollback()
        if self.rule_ids:
            db.session.execute(update(AutomationRule).where(
                AutomationRule.id.in_(self.rule_ids)).values(enabled=False))
            db.session.execute(delete(AutomationRunItem).where(AutomationRunItem.run_id.in_(
                select(AutomationRun.id).where(AutomationRun.rule_id.in_(self.rule_ids)))))
            for model in (AutomationFire, AutomationMessage, AutomationRun):
                db.session.execute(delete(model).where(model.rule_id.in_(self.rule_ids)))
            db.session.execute(delete(AutomationRule).where(
                AutomationRule.id.in_(self.rule_ids)))
        for item in self.extra:
            item()
        if self.customer_ids:
            ids = self.customer_ids
            from models.events import DomainEvent, DomainEventHandled

            db.session.execute(delete(DomainEventHandled).where(
                DomainEventHandled.event_id.in_(select(DomainEvent.id).where(
                    DomainEvent.customer_id.in_(ids)))))
            from models.notifications import Notification

            # notices too: SQLite gives a deleted task's or request's id to the next one
            for model in (SegmentMembership, Complaint, FollowUp, Interaction, Consent,
                          DomainEvent, ChangeRequest, Notification):
                db.session.execute(delete(model).where(model.customer_id.in_(ids))
                                   .execution_options(synchronize_session=False))
            db.session.execute(delete(Customer).where(Customer.id.in_(ids)))
        db.session.commit()


def tasks_of(customer_ids, source="automation"):
    from models import FollowUp

    db.session.rollback()
    return db.session.scalars(select(FollowUp).where(
        FollowUp.customer_id.in_(list(customer_ids)), FollowUp.source == source)).all()
