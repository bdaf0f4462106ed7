"""What a rule does for one matched record, each action reusing the room that owns the work.

Every action writes into the caller's transaction only (never commits): the engine commits the
actions of a record together with its ``automation_fire`` row, so a record is acted on once per
occurrence whatever crashes. Things that leave the bank go through their own ledgers, written
here and sent after the commit: customer messages (``automation_message``, sent by
``jobs.automation.send_messages`` through messaging's channels, consent and quiet hours) and
webhook calls (the webhooks room's delivery rows).

An action that cannot apply to this record raises :class:`Skip` with the reason, shown in the
run log.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models import Customer, FollowUp, Segment, Staff
from models.automation import AutomationMessage


class Skip(Exception):
    """This action does not apply to this record; ``reason`` is a lazy translation."""

    def __init__(self, reason):
        super().__init__(str(reason))
        self.reason = reason


@dataclass
class Target:
    """A matched record: its customer, what it is, the occurrence and when."""

    rule: object
    customer: Customer
    entity: str
    entity_id: int
    occurrence: str
    now: dt.datetime
    data: dict = field(default_factory=dict)


def apply(session, target: Target) -> int:
    """Run each of the rule's actions for ``target``; returns how many acted."""
    done = 0
    for action in target.rule.actions or []:
        handler = HANDLERS.get(action.get("kind"))
        if handler is None:
            raise Skip(_l("An action of this rule is no longer known."))
        handler(session, target, action)
        done += 1
    return done


def rule_name(rule):
    """The rule's name: a default rule's is a message id shown in the reader's language (a
    lazy translation here, so a notice keeps it that way); a renamed rule's is its text."""
    import json

    from backoffice import stored_text

    if stored_text.is_kept(rule.name):
        try:
            [part] = json.loads(rule.name[len(stored_text.MARK):])
            if part.get("f") == "gettext" and not part.get("k"):
                return _l(part["a"][0])
        except (ValueError, TypeError, KeyError):
            pass
        return stored_text.show(rule.name)
    return rule.name or ""


# --- who ----------------------------------------------------------------------------------------


def assignees(session, target: Target, action: dict) -> list[int]:
    """Staff ids by relation to the customer: owner, branch manager, or a role in the branch."""
    from backoffice.security.holders import escalation_target_in

    relation = action.get("assignee") or "owner"
    customer = target.customer
    if relation == "owner":
        return [customer.owner_id] if customer.owner_id else []
    if relation == "branch_manager":
        found = session.scalar(select(escalation_target_in(customer.branch_id)))
        return [found] if found else []
    if relation == "role":
        from flask_appbuilder.security.sqla.models import Role, assoc_user_role

        rows = session.scalars(
            select(Staff.id).join(assoc_user_role, assoc_user_role.c.user_id == Staff.id)
            .join(Role, Role.id == assoc_user_role.c.role_id)
            .where(Role.name == action.get("role"), Staff.branch_id == customer.branch_id,
                   Staff.active.is_(True)).order_by(Staff.id)).all()
        return list(rows)
    return []


def _no_assignee():
    return _l("Nobody holds that duty for this customer's branch.")


# --- actions ------------------------------------------------------------------------------------


def create_task(session, target: Target, action: dict) -> None:
    """A follow-up task for the first of the assignees, due by the SLA in working days."""
    from backoffice.messaging.quiet import zone
    from backoffice.notifications.sources import tasks_inserted
    from backoffice.service import sla

    task_type = action.get("task_type") or "other"
    if action.get("unless_open") and session.scalar(select(FollowUp.id).where(
            FollowUp.customer_id == target.customer.id, FollowUp.task_type == task_type,
            FollowUp.status == "open").limit(1)):
        raise Skip(_l("An open task of this type exists for the customer."))
    people = assignees(session, target, action)
    if not people:
        raise Skip(_no_assignee())
    config = current_app.config
    days = action.get("due_days")
    if days in (None, ""):
        due = sla.default_due(task_type, config, target.now)
    else:
        tz = zone(config)
        local_today = target.now.replace(tzinfo=dt.timezone.utc).astimezone(tz).date()
        local_due = dt.datetime.combine(sla.add_working_days(local_today, int(days)),
                                        sla.END_OF_DAY, tzinfo=tz)
        due = local_due.astimezone(dt.timezone.utc).replace(tzinfo=None)
    # A title the rule's author typed stays as typed; a default rule's name is a message id,
    # kept as such (the task's and its notice's) so that it reads in the reader's language.
    from backoffice import stored_text

    title = action.get("title") or rule_name(target.rule)
    task = FollowUp(customer_id=target.customer.id, assignee_id=people[0],
                    title=str(title)[:200],
                    title_key=stored_text.keep(title) if stored_text.is_lazy(title) else None,
                    task_type=task_type,
                    due_at=due, status="open", source="automation", created_at=target.now,
                    notes=action.get("notes") or None)
    session.add(task)
    session.flush()
    tasks_inserted(session, [task.id])  # the assignee is told, as for any task


def send_message(session, target: Target, action: dict) -> None:
    """The message's ledger row; consent is checked now and again when it is sent."""
    from backoffice.messaging.consent import granted_condition

    channel, purpose = action.get("channel"), action.get("purpose") or "service"
    allowed = session.scalar(select(granted_condition(Customer.id, channel, (purpose,)))
                             .where(Customer.id == target.customer.id))
    if not allowed:
        raise Skip(_l("The customer has not consented to this channel."))
    exists = session.scalar(select(AutomationMessage.id).where(
        AutomationMessage.rule_id == target.rule.id,
        AutomationMessage.customer_id == target.customer.id,
        AutomationMessage.occurrence == target.occurrence))
    if exists:
        return
    session.add(AutomationMessage(
        rule_id=target.rule.id, customer_id=target.customer.id, occurrence=target.occurrence,
        channel=channel, purpose=purpose, status="pending", next_attempt_at=target.now,
        subject=(action.get("subject") or str(rule_name(target.rule)))[:200],
        body=render(action.get("body") or "", target.customer)))
    session.flush()
    session.info["crm_automation_messages"] = True  # the engine starts the send job


def render(template: str, customer: Customer) -> str:
    """``{name}`` is the customer's name; any other brace stays as written."""
    return template.replace("{name}", customer.name or "")


def set_field(session, target: Target, action: dict) -> None:
    """Set a customer field as the rule's author would: a maker's change to a reviewed field
    becomes a change request for a checker, like any change they make. A custom field
    (``custom_fields.<key>``) is checked, written and filed as a screen edit of it is, and only
    while its author may write it (``backoffice.automation.custom_fields``)."""
    from backoffice.audit import log
    from backoffice.automation import custom_fields
    from backoffice.notifications.sources import change_request_waiting
    from backoffice.review.service import needs_review, reviewed_fields
    from backoffice.review.values import to_json
    from backoffice.security.policy import viewer_for
    from models import ChangeRequest

    key = action.get("field")
    author = session.get(Staff, target.rule.created_by_id) if target.rule.created_by_id else None
    spec = None
    if custom_fields.is_custom(key):
        spec, refusal = custom_fields.settable_spec(key, viewer_for(author))
        if refusal is not None:
            raise Skip(refusal)
    elif key not in settable_columns():
        raise Skip(_l("This field cannot be set by a rule."))
    elif author is not None and not may_write_column(key, viewer_for(author)):
        raise Skip(_l("The rule's author may not change %(field)s.",
                      field=settable_columns()[key]["label"]))
    customer = target.customer
    value = typed_value(key, action.get("value"), spec=spec, customer=customer)
    current = (custom_fields.current_value(spec, customer) if spec is not None
               else getattr(customer, key))
    if current == value:
        raise Skip(_l("The field already has this value."))
    if author is not None and needs_review(author) and key in reviewed_fields():
        request = ChangeRequest(entity="customer", kind="update", status="pending",
                                customer_id=customer.id, branch_id=customer.branch_id,
                                base_version=customer.version, maker_id=author.id)
        request.values = (custom_fields.proposed_values(spec, value, customer)
                          if spec is not None else {key: to_json(key, value)})
        session.add(request)
        session.flush()
        log.record("propose", entity="ChangeRequest", entity_id=request.id,
                   customer_id=customer.id, actor=author,
                   detail={"kind": "update", "fields": [key], "rule_id": target.rule.id})
        change_request_waiting(session, request, author)
        return
    if spec is not None:
        custom_fields.write(spec, value, customer)
    else:
        setattr(customer, key, value)
    session.flush()


def may_write_column(key: str, viewer) -> bool:
    """Whether the field policy lets ``viewer`` (a rule's author) change the column: a rule
    changes nothing its author could not change on the customer's form."""
    from backoffice.security import policy

    return policy.decide("Customer", key, None, viewer).may_write


def settable_columns() -> dict:
    """Customer columns any rule may set, whoever wrote it: plain, non-sensitive, not identity
    or ownership. What a stored rule's action is checked and typed against; the author's own
    rights are a separate check when the rule runs (:func:`may_write_column`)."""
    from backoffice.automation.catalog import record_fields

    refused = {"customer_no", "branch_id", "owner_id", "teller_id", "tier", "closed_on",
               "name", "id_type"}
    return {f["key"]: f for f in record_fields("customer") if f["key"] not in refused}


def settable_fields(viewer=None) -> dict:
    """The fields ``viewer`` (default: the current user, who writes the rule) may set by a
    rule: the settable columns their field policy lets them write, then the custom fields
    they may set, by their labels marked as custom. What the rule form offers and what a
    rule being saved may name."""
    from backoffice.automation import custom_fields
    from backoffice.security import policy

    writer = viewer or policy.current_viewer()
    found = {key: f for key, f in settable_columns().items() if may_write_column(key, writer)}
    found.update((custom_fields.name_of(spec), custom_fields.form_entry(spec))
                 for spec in custom_fields.offered(writer))
    return found


def typed_value(key: str, raw, *, spec=None, customer=None):
    """The rule's stored text as the field's value; a custom field's ``spec`` checks it as a
    screen edit of ``customer`` would (a refusal is a skip with the field's own reason)."""
    if spec is not None:
        from backoffice.automation import custom_fields

        value, reason = custom_fields.checked_value(spec, raw, customer)
        if reason is not None:
            raise Skip(reason)
        return value
    spec = settable_columns()[key]
    if spec["type"] == "boolean":
        return str(raw).lower() in ("true", "1", "y", "yes")
    if raw in (None, ""):
        return None
    if spec["type"] == "number":
        try:
            return Decimal(str(raw))
        except InvalidOperation:
            raise Skip(_l("The rule's value is not a number.")) from None
    if spec["type"] == "date":
        return dt.date.fromisoformat(str(raw))
    return str(raw)


def add_to_segment(session, target: Target, action: dict) -> None:
    """A pinned member of the segment from now on: the nightly refresh re-applies the segment's
    own rule but keeps the customers a rule added (``source`` 'added', with the rule and the
    time), until someone removes the pin on the segment's screen. A customer the segment's
    rule already holds is pinned too, so they stay when the rule stops matching them."""
    from backoffice.segments import pins

    segment = session.get(Segment, action.get("segment_id"))
    if segment is None or segment.kind == "tier":
        raise Skip(_l("The segment no longer exists."))
    if not pins.pin(session, segment, target.customer.id, rule_id=target.rule.id,
                    now=target.now):
        raise Skip(_l("Already in the segment."))


def add_to_campaign(session, target: Target, action: dict) -> None:
    """A target of a running campaign, getting what a target of its group got at launch: the
    campaigns room's own use case (gate, channel, control split, the phone task or the
    message's send-ledger row, sent by the campaign's sending round); the customer a rule
    cannot add (already in, not suitable, campaign not running) is skipped with the reason."""
    from backoffice.campaigns.service import NotAdded, add_target
    from models import Campaign

    campaign = session.get(Campaign, action.get("campaign_id"))
    try:
        add_target(session, campaign, target.customer, target.now)
    except NotAdded as exc:
        raise Skip(exc.reason) from None


def notify_staff(session, target: Target, action: dict) -> None:
    """An in-app notice (the notifications room hides the customer from readers who may not
    see them)."""
    from backoffice.notifications import notify

    people = assignees(session, target, action)
    if not people:
        raise Skip(_no_assignee())
    note = (action.get("text") or "").strip()
    name = rule_name(target.rule)
    message = (_l("Rule %(rule)s: %(note)s", rule=name, note=note) if note
               else _l("Rule %(rule)s matched a customer.", rule=name))
    notify(session, people, "rule", message, entity="Customer", entity_id=target.customer.id,
           customer_id=target.customer.id, link=f"/customers/show/{target.customer.id}")


def call_webhook(session, target: Target, action: dict) -> None:
    """A signed delivery through the webhooks room (its role filter applies to the data)."""
    from backoffice.webhooks import deliver_rule_event

    delivery = deliver_rule_event(session, action.get("webhook_id"), "automation.rule", {
        "rule_id": target.rule.id, "rule": str(rule_name(target.rule)), "entity": target.entity,
        "entity_id": target.entity_id, "customer_id": target.customer.id,
        "occurrence": target.occurrence})
    if delivery is None:
        raise Skip(_l("The webhook is gone or switched off."))


HANDLERS = {"task": create_task, "message": send_message, "set_field": set_field,
            "segment": add_to_segment, "campaign": add_to_campaign, "notify": notify_staff,
            "webhook": call_webhook}
