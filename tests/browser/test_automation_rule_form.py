"""A senior manager builds a rule in Chromium by picking only: a customer record changed, the
field picked from the record's fields, its from/to values offered as yes/no for a yes/no field,
a follow-up task for the relationship manager; saved, the rule holds what was picked."""
from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from tests.browser.steps import sign_in


def test_senior_manager_builds_a_rule_by_picking(page, live_server, app, shoot):
    from backoffice.extensions import db
    from models.automation import AutomationRule

    name = f"规则表单{uuid.uuid4().hex[:6]}"
    sign_in(page, live_server, "senior")
    page.goto(f"{live_server}/automation/new")
    page.fill("input[name=name]", name)
    page.select_option("#trigger-kind", "record")
    page.select_option("#trigger-entity", "customer")
    page.select_option("#trigger-field", "flag_elderly")
    assert page.locator("#trigger-from select option").count() == 3  # any, yes, no
    page.select_option("#trigger-from select", "false")
    page.select_option("#trigger-to select", "true")
    page.select_option("select[name=a0_kind]", "task")
    assert page.locator("input[name=a0_title]").is_visible()
    assert not page.locator("select[name=a0_channel]").is_visible()
    page.fill("input[name=a0_title]", "老年客户回访")
    page.fill("input[name=a0_due_days]", "1")
    shoot("01-rule-form-picked")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/automation/rule/*")
    shoot("02-rule-saved-with-dry-run")
    with app.app_context():
        rule = db.session.scalar(select(AutomationRule).where(AutomationRule.name == name))
        try:
            assert (rule.trigger_kind, rule.trigger_entity, rule.trigger_field,
                    rule.trigger_from, rule.trigger_to) == (
                "record", "customer", "flag_elderly", "false", "true")
            assert rule.actions == [{"kind": "task", "assignee": "owner", "task_type": "callback",
                                     "title": "老年客户回访", "due_days": 1}]
            assert not rule.enabled
        finally:
            db.session.execute(delete(AutomationRule).where(AutomationRule.id == rule.id))
            db.session.commit()
            db.session.remove()
