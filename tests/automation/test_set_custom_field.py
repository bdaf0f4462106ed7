"""A rule's "set a field" action on admin-defined custom fields: offered on the rule form by
label (marked as custom) to whoever may write them, refused when sensitive or not the author's
to write, checked by the fields room's own rules (a bad value is a skip with its reason), written
with the same event and operation-log row as a screen edit, and filed for review when a maker's
rule changes a reviewed field."""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import delete, func, select

from backoffice import stored_text
from backoffice.automation import custom_fields, engine
from backoffice.automation.actions import settable_fields
from backoffice.extensions import db
from backoffice.fields import values as v
from backoffice.fields.registry import field_spec
from backoffice.security.policy import viewer_for
from models import Customer, Staff
from models.automation import AutomationRun, AutomationRunItem
from tests.automation.test_access import _requests_in_their_own_globals  # noqa: F401
from tests.automation.test_access import form, post

CHOICES = [{"value": "gold", "label_zh": "金卡", "label_en": "Gold", "order": 1},
           {"value": "silver", "label_zh": "银卡", "label_en": "Silver", "order": 2}]


@pytest.fixture
def fields(bank):
    """``fields(stem, field_type, **attrs)``: a customer field of the test's own, with a unique
    key and label; its definition is deleted after the test (the bank removes the customers
    holding its values)."""
    from models.fields import CustomFieldDefinition

    made: list[int] = []

    def make(stem: str, field_type: str, **attrs):
        tag = uuid.uuid4().hex[:6]
        definition = CustomFieldDefinition(
            entity="customer", key=f"{stem}_{tag}", label_zh=f"{stem}字段{tag}",
            label_en=f"{stem} field {tag}", field_type=field_type, status="active", **attrs)
        db.session.add(definition)
        db.session.commit()
        made.append(definition.id)
        return field_spec("customer", definition.key)

    def cleanup():
        db.session.execute(delete(CustomFieldDefinition).where(
            CustomFieldDefinition.id.in_(made)))

    bank.extra.append(cleanup)
    return make


def set_action(spec, value) -> dict:
    return {"kind": "set_field", "field": f"custom_fields.{spec.key}", "value": value}


def run(bank, rule) -> list[AutomationRunItem]:
    engine.run_rule(db.session, rule.id, occurrence=f"manual:{uuid.uuid4().hex[:8]}")
    db.session.rollback()
    run_ids = select(AutomationRun.id).where(AutomationRun.rule_id == rule.id)
    return db.session.scalars(select(AutomationRunItem).where(
        AutomationRunItem.run_id.in_(run_ids)).order_by(AutomationRunItem.id)).all()


def value_of(customer_id, spec):
    db.session.expire_all()
    return v.read_values(db.session.get(Customer, customer_id), [spec])[spec.key]


def reasons(items) -> list[str]:
    return [stored_text.show(item.reason) for item in items if item.outcome == "skipped"]


def test_a_rule_sets_a_choice_and_a_number_custom_field_as_a_screen_edit_would(bank, fields):
    from backoffice import events
    from models.audit import AuditLog
    from models.events import DomainEvent

    tier = fields("tier", "choice", choices=CHOICES)
    score = fields("score", "integer", min_value="0", max_value="100")
    customers = bank.customers(2)
    rule = bank.rule(trigger_kind="schedule", schedule_kind="daily",
                     actions=[set_action(tier, "gold"), set_action(score, " 42 ")])
    events.subscribe("test-set-custom-field", lambda session, event: None,
                     lambda name: name == events.RECORD_CHANGED)
    try:
        items = run(bank, rule)
    finally:
        events.unsubscribe("test-set-custom-field")
    assert [item.outcome for item in items] == ["acted", "acted"], reasons(items)
    for customer_id in customers:
        assert value_of(customer_id, tier) == "gold"
        assert value_of(customer_id, score) == 42  # normalised to the field's type
        stored = db.session.get(Customer, customer_id).custom_fields
        assert stored[tier.key] == "gold" and stored[score.key] == 42

        # the operation-log row a screen edit writes: the customer's update, field by field
        rows = db.session.scalars(select(AuditLog).where(
            AuditLog.entity == "Customer", AuditLog.entity_id == str(customer_id),
            AuditLog.action == "update")).all()
        changes = {}
        for row in rows:
            changes.update(json.loads(row.detail).get("changes", {}))
        assert changes[f"custom_fields.{tier.key}"] == {"before": None, "after": "gold"}
        assert changes[f"custom_fields.{score.key}"] == {"before": None, "after": 42}

        # the record-change events (one per action), marked as the rule's own change (so that
        # it does not trigger the rule again)
        raised = db.session.scalars(select(DomainEvent).where(
            DomainEvent.name == events.RECORD_CHANGED, DomainEvent.entity == "customer",
            DomainEvent.entity_id == customer_id)).all()
        assert raised and {event.data["rule_id"] for event in raised} == {rule.id}
        changed = {}
        for event in raised:
            changed.update(event.data["changed"])
        assert changed[f"custom_fields.{tier.key}"] == [None, "gold"]
        assert changed[f"custom_fields.{score.key}"] == [None, 42]

    # a second run finds nothing to change
    again = run(bank, bank.rule(trigger_kind="schedule", schedule_kind="daily",
                                actions=[set_action(tier, "gold")]))
    assert {item.outcome for item in again} == {"skipped"}


def test_a_bad_value_is_skipped_with_the_fields_own_reason(bank, fields):
    score = fields("score", "integer", min_value="0", max_value="100")
    tier = fields("tier", "choice", choices=CHOICES)
    customers = bank.customers(1)
    for spec, raw in ((score, "150"), (score, "abc"), (tier, "platinum")):
        rule = bank.rule(trigger_kind="schedule", schedule_kind="daily",
                         actions=[set_action(spec, raw)])
        items = run(bank, rule)
        assert [item.outcome for item in items] == ["skipped"]
        expected = str(v.validate_value(spec, raw)[1])
        assert expected and spec.label() in expected
        assert expected in reasons(items)[0]
        assert value_of(customers[0], spec) is None


def test_a_bad_value_is_refused_when_the_rule_is_saved(client_as, bank, fields):
    score = fields("score", "integer", min_value="0", max_value="100")
    name = f"{bank.marker}-bad"
    data = form(bank, name, actions=("set_field",), a0_field=f"custom_fields.{score.key}",
                a0_value="150")
    response = post(client_as("senior"), "/automation/new", data, "/automation/new")
    assert response.status_code == 200
    assert str(v.validate_value(score, "150")[1]) in response.get_data(as_text=True)
    from models.automation import AutomationRule

    assert db.session.scalar(select(AutomationRule).where(AutomationRule.name == name)) is None
    data["a0_value"] = "99"
    assert post(client_as("senior"), "/automation/new", data,
                "/automation/new").status_code == 302
    rule = db.session.scalar(select(AutomationRule).where(AutomationRule.name == name))
    bank.rule_ids.append(rule.id)
    assert rule.actions == [set_action(score, "99")]


def test_the_form_offers_custom_fields_by_label_and_a_value_input_by_type(client_as, bank,
                                                                          fields):
    tier = fields("tier", "choice", choices=CHOICES)
    tags = fields("tags", "multi_choice", choices=CHOICES)
    page = client_as("senior").get("/automation/new").get_data(as_text=True)
    assert f'value="custom_fields.{tier.key}"' in page
    assert f"{tier.label_zh} (自定义字段)" in page  # the reader's language, marked as custom
    senior = db.session.get(Staff, bank.world.staff["senior"])
    offered = settable_fields(viewer_for(senior))
    assert offered[f"custom_fields.{tier.key}"]["choices"] == [["gold", "金卡"],
                                                               ["silver", "银卡"]]
    assert offered[f"custom_fields.{tags.key}"]["multiple"] is True
    # several choices of a multiple-choice field are kept as its typed value
    name = f"{bank.marker}-tags"
    data = form(bank, name, actions=("set_field",), a0_field=f"custom_fields.{tags.key}")
    data["a0_value"] = ["gold", "silver"]
    assert post(client_as("senior"), "/automation/new", data,
                "/automation/new").status_code == 302
    from models.automation import AutomationRule

    rule = db.session.scalar(select(AutomationRule).where(AutomationRule.name == name))
    bank.rule_ids.append(rule.id)
    assert rule.actions[0]["value"] == "gold,silver"
    rule.enabled = True  # a saved rule starts switched off
    db.session.commit()
    customers = bank.customers(1)
    assert [item.outcome for item in run(bank, rule)] == ["acted"]
    assert value_of(customers[0], tags) == ["gold", "silver"]


def test_a_sensitive_or_unwritable_custom_field_is_not_offered_and_a_stored_rule_is_skipped(
        client_as, bank, fields):
    secret = fields("secret", "text", sensitive=True)
    managers_only = fields("bmonly", "text", editable_roles=["BranchManager"])
    senior = db.session.get(Staff, bank.world.staff["senior"])
    offered = settable_fields(viewer_for(senior))
    assert f"custom_fields.{secret.key}" not in offered
    assert f"custom_fields.{managers_only.key}" not in offered
    page = client_as("senior").get("/automation/new").get_data(as_text=True)
    assert secret.label_zh not in page and managers_only.label_zh not in page
    bm1 = db.session.get(Staff, bank.world.staff["bm1"])
    assert f"custom_fields.{managers_only.key}" in settable_fields(viewer_for(bm1))

    # saving a rule that names one is refused
    data = form(bank, f"{bank.marker}-secret", actions=("set_field",),
                a0_field=f"custom_fields.{secret.key}", a0_value="x")
    assert post(client_as("senior"), "/automation/new", data,
                "/automation/new").status_code == 200

    # a stored rule naming one is skipped with the reason, and writes nothing
    customers = bank.customers(1)
    for spec in (secret, managers_only):
        rule = bank.rule(trigger_kind="schedule", schedule_kind="daily",
                         actions=[set_action(spec, "x")])
        items = run(bank, rule)
        assert [item.outcome for item in items] == ["skipped"]
        expected = str(custom_fields.refusal(spec, viewer_for(senior)))
        assert spec.label() in expected and reasons(items) == [expected]
        assert spec.key not in (db.session.get(Customer, customers[0]).custom_fields or {})


def test_a_makers_rule_on_a_reviewed_custom_field_files_a_change_request(bank, fields):
    from backoffice.review import service as review
    from models import ChangeRequest

    tier = fields("tier", "choice", choices=CHOICES, reviewed=True)
    plain = fields("plain", "choice", choices=CHOICES)
    customers = bank.customers(1, owner="rm1")
    rule = bank.rule(trigger_kind="schedule", schedule_kind="daily",
                     created_by_id=bank.world.staff["rm1"],
                     actions=[set_action(plain, "gold"), set_action(tier, "silver")])
    bank.extra.insert(0, lambda: db.session.execute(delete(ChangeRequest).where(
        ChangeRequest.customer_id.in_(customers))))
    # (SQLite reuses a deleted customer's id: another test's request may name it already)
    before = db.session.scalar(select(func.max(ChangeRequest.id))) or 0
    items = run(bank, rule)
    assert [item.outcome for item in items] == ["acted"], reasons(items)
    requests = db.session.scalars(select(ChangeRequest).where(
        ChangeRequest.customer_id == customers[0], ChangeRequest.status == "pending",
        ChangeRequest.id > before)).all()
    assert len(requests) == 1 and requests[0].maker_id == bank.world.staff["rm1"]
    assert requests[0].values["custom_fields"][tier.key] == "silver"
    assert value_of(customers[0], tier) is None  # the live record waits for the checker
    assert value_of(customers[0], plain) == "gold"  # not reviewed: set at once

    # a checker's approval applies the rule's change
    request_id = requests[0].id
    review.approve(db.session.get(Staff, bank.world.staff["bm1"]), request_id)
    assert value_of(customers[0], tier) == "silver"
    assert value_of(customers[0], plain) == "gold"
