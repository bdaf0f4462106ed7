"""A rule's "set a field" action on customer columns follows its author's rights: a column the
author may not change on the customer's form is neither offered nor set, and a maker's change
of a reviewed column is filed for review in the form a screen edit files it (dates and amounts
as JSON text, which the request's sealed payload can hold)."""
from __future__ import annotations

import datetime as dt
import uuid

from flask_babel import force_locale
from sqlalchemy import select

from backoffice import stored_text
from backoffice.automation import engine
from backoffice.automation.actions import settable_columns, settable_fields
from backoffice.extensions import db
from backoffice.security.policy import viewer_for
from models import ChangeRequest, Customer, Staff
from models.automation import AutomationRun, AutomationRunItem


def items_of(rule) -> list[AutomationRunItem]:
    engine.run_rule(db.session, rule.id, occurrence=f"manual:{uuid.uuid4().hex[:8]}")
    db.session.rollback()
    return db.session.scalars(select(AutomationRunItem).join(AutomationRun).where(
        AutomationRun.rule_id == rule.id).order_by(AutomationRunItem.id)).all()


def test_a_column_its_author_may_not_change_is_not_offered_nor_set(bank, world):
    admin = db.session.get(Staff, world.staff["admin"])
    senior = db.session.get(Staff, world.staff["senior"])
    assert "service_notes" in settable_fields(viewer_for(senior))
    assert "service_notes" not in settable_fields(viewer_for(admin))
    assert "service_notes" in settable_columns()  # a stored rule is checked on its author
    customers = bank.customers(1)
    rule = bank.rule(trigger_kind="schedule", schedule_kind="daily", schedule_time="00:00",
                     created_by_id=world.staff["admin"],
                     actions=[{"kind": "set_field", "field": "service_notes", "value": "改"}])
    [item] = items_of(rule)
    assert item.outcome == "skipped"
    with force_locale("en"):
        assert stored_text.show(item.reason).startswith("The rule's author may not change")
    assert db.session.get(Customer, customers[0]).service_notes != "改"


def test_a_makers_change_of_a_reviewed_date_column_is_filed_as_json(bank, world, monkeypatch):
    from backoffice.review import service as review

    monkeypatch.setattr(review, "REVIEWED_FIELDS", [*review.REVIEWED_FIELDS, "risk_assessed_on"])
    customers = bank.customers(1, risk_assessed_on=dt.date(2024, 1, 2))
    rule = bank.rule(trigger_kind="schedule", schedule_kind="daily", schedule_time="00:00",
                     created_by_id=world.staff["rm1"],
                     actions=[{"kind": "set_field", "field": "risk_assessed_on",
                               "value": "2026-11-30"}])
    [item] = items_of(rule)
    assert item.outcome == "acted", stored_text.show(item.reason)
    [request] = db.session.scalars(select(ChangeRequest).where(
        ChangeRequest.customer_id == customers[0], ChangeRequest.status == "pending")).all()
    assert request.values == {"risk_assessed_on": "2026-11-30"}
    assert db.session.get(Customer, customers[0]).risk_assessed_on == dt.date(2024, 1, 2)
