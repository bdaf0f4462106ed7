"""Rule use cases shared by the screens, the CLI and the jobs: who may edit which rule, saving
(validated first, every problem collected), switching on and off, the second person's approval
of rules that message customers, and the scheduler's tick.

Who: ``can_write`` on ``AutomationRule`` edits rules, ``can_approve`` approves them (roles in
``config/roles.py``). Which: a rule belongs to a branch or to the whole bank; a user may edit a
rule whose branch their record scope covers whole (``review.service.covers_branch``), so a
branch manager edits and sees their branch's rules, which act on that branch's customers only.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from backoffice.audit import log
from backoffice.automation import catalog, engine, schedule
from backoffice.security import scopes
from backoffice.security.permissions import has_permission
from models.automation import AutomationRule, AutomationRun
from models.base import utcnow

VIEW = "AutomationRule"


class RuleRefused(ValueError):
    """``errors`` maps form fields to messages."""

    def __init__(self, errors: dict):
        super().__init__("; ".join(str(v) for v in errors.values()))
        self.errors = errors


# --- who ---------------------------------------------------------------------------------------


def may_write(user) -> bool:
    return has_permission(user, "can_write", VIEW)


def may_approve(user) -> bool:
    return has_permission(user, "can_approve", VIEW)


def user_branch(user) -> int | None:
    """The branch a user's rules are pinned to (None: the user's scope covers the bank)."""
    scope = scopes.scope_for_user(user)
    return None if scope.kind == "all" or scope.customer_condition() is None else \
        getattr(user, "branch_id", None)


def covers(user, rule: AutomationRule) -> bool:
    """Whether ``user`` may see and edit ``rule``: its branch (or the bank) is theirs.

    Administrators hold no customer scope but configure bank-wide rules: a rule that names no
    branch is configuration, which a rule writer of any scope may edit; a branch's rule is
    for those whose scope covers that branch.
    """
    from backoffice.review.service import covers_branch

    if rule.branch_id is None:
        return user_branch(user) is None
    return covers_branch(scopes.scope_for_user(user), rule.branch_id)


def visible_rules(session, user):
    query = select(AutomationRule).order_by(AutomationRule.name, AutomationRule.id)
    branch = user_branch(user)
    if branch is not None:
        query = query.where(AutomationRule.branch_id == branch)
    elif scopes.scope_for_user(user).kind != "all":
        query = query.where(AutomationRule.branch_id.is_(None))
    return [rule for rule in session.scalars(query) if covers(user, rule)]


# --- saving ------------------------------------------------------------------------------------


def save(session, rule: AutomationRule, values: dict, actor) -> AutomationRule:
    """Validate every part of the rule, then store it (approval is withdrawn by any change to
    a rule that messages customers: the approver approved what they saw)."""
    errors = validate(session, values, actor)
    if errors:
        raise RuleRefused(errors)
    before = _approvable(rule)
    for key, value in values.items():
        setattr(rule, key, value)
    branch = user_branch(actor)
    if branch is not None:
        rule.branch_id = branch  # a branch manager's rules act on their branch only
    rule.updated_by_id = getattr(actor, "id", None)
    if rule.id is None:
        rule.created_by_id = getattr(actor, "id", None)
        session.add(rule)
    if engine.messages_customers(rule) and (rule.approval != "approved"
                                            or _approvable(rule) != before):
        rule.approval = "none" if rule.approval != "pending" else "pending"
        if rule.approval != "pending":
            rule.enabled = False
            rule.approved_by_id = rule.approved_at = None
    session.flush()
    log.record("automation_rule.save", entity="AutomationRule", entity_id=rule.id,
               actor=actor, detail={"name": rule.name, "enabled": rule.enabled})
    session.commit()
    return rule


def _approvable(rule) -> tuple:
    """What an approver approves: everything that decides who is messaged and how."""
    return (rule.trigger_kind, rule.trigger_entity, rule.trigger_on, rule.trigger_field,
            rule.trigger_from, rule.trigger_to, rule.trigger_event, rule.schedule_kind,
            rule.schedule_time, rule.schedule_day, repr(rule.conditions), repr(rule.actions),
            rule.branch_id)


def validate(session, values: dict, actor) -> dict:
    from backoffice.segments import rules as r
    from backoffice.segments.catalog import rule_fields

    errors = {}
    if not (values.get("name") or "").strip():
        errors["name"] = _l("A name is required.")
    kind = values.get("trigger_kind")
    if kind not in catalog.TRIGGER_KINDS:
        errors["trigger_kind"] = _l("Choose what starts the rule.")
    elif kind == "record":
        if values.get("trigger_entity") not in catalog.RECORD_TYPES:
            errors["trigger_entity"] = _l("Choose the kind of record.")
        elif values.get("trigger_field") and values["trigger_field"] not in {
                f["key"] for f in catalog.record_fields(values["trigger_entity"])}:
            errors["trigger_field"] = _l("Choose a field of that record.")
        if values.get("trigger_on") not in catalog.RECORD_ON:
            errors["trigger_on"] = _l("Choose created or changed.")
    elif kind == "event" and values.get("trigger_event") not in catalog.events_offered():
        errors["trigger_event"] = _l("Choose the event.")
    elif kind == "schedule":
        if values.get("schedule_kind") not in catalog.SCHEDULE_KINDS:
            errors["schedule_kind"] = _l("Choose how often.")
        day = values.get("schedule_day")
        if values.get("schedule_kind") == "monthly" and not (day and 1 <= int(day) <= 31):
            errors["schedule_day"] = _l("Choose a day of the month.")
    try:
        if values.get("conditions"):
            values["conditions"] = r.validate(values["conditions"], rule_fields(session=session))
    except (r.RuleError, ValueError) as exc:
        errors["conditions"] = "; ".join(getattr(exc, "errors", [str(exc)]))
    if not values.get("actions"):
        errors["actions"] = _l("Add at least one action.")
    for problem in _action_problems(values.get("actions") or []):
        errors.setdefault("actions", problem)
    for key in ("max_per_run", "max_per_hour"):
        value = values.get(key)
        if value is not None and int(value) < 1:
            errors[key] = _l("A limit is a whole number above zero, or empty.")
    return errors


def _action_problems(items: list[dict]):
    from backoffice.automation.actions import settable_fields

    for action in items:
        kind = action.get("kind")
        if kind not in catalog.ACTION_KINDS:
            yield _l("An action of this rule is no longer known.")
        elif kind in ("task", "notify") and action.get("assignee") not in catalog.ASSIGNEES:
            yield _l("Choose who receives it.")
        elif kind == "task" and not (action.get("title") or "").strip():
            yield _l("Give the task a title.")
        elif kind == "message" and (action.get("channel") not in catalog.MESSAGE_CHANNELS
                                    or not (action.get("body") or "").strip()):
            yield _l("Choose a channel and write the message.")
        elif kind == "set_field" and action.get("field") not in settable_fields():
            yield _l("Choose the field to set.")
        elif kind in ("segment", "campaign", "webhook") and not action.get(
                {"segment": "segment_id", "campaign": "campaign_id",
                 "webhook": "webhook_id"}[kind]):
            yield _l("Choose where to add the customer.")


# --- on/off and approval -----------------------------------------------------------------------


def switch(session, rule: AutomationRule, on: bool, actor) -> None:
    """Switch a rule on or off; a rule that messages customers goes on only once approved."""
    if on and engine.messages_customers(rule) and rule.approval != "approved":
        raise RuleRefused({"enabled": _l(
            "This rule messages customers: a second person must approve it first.")})
    rule.enabled = bool(on)
    log.record("automation_rule.switch", entity="AutomationRule", entity_id=rule.id,
               actor=actor, detail={"enabled": rule.enabled})
    session.commit()


def request_approval(session, rule: AutomationRule, actor) -> None:
    if not engine.messages_customers(rule):
        raise RuleRefused({"_": _l("Only rules that message customers need approval.")})
    rule.approval, rule.approval_requested_by_id = "pending", getattr(actor, "id", None)
    rule.approved_by_id = rule.approved_at = None
    log.record("automation_rule.request_approval", entity="AutomationRule",
               entity_id=rule.id, actor=actor)
    _tell_approvers(session, rule, actor)
    session.commit()


def approval_refusal(rule: AutomationRule, actor):
    """Why ``actor`` may not approve (None: they may): another person holding the permission,
    whose scope covers the rule's branch, and a request pending."""
    if not may_approve(actor) or not covers(actor, rule):
        return _l("You may not approve automation rules.")
    if rule.approval != "pending":
        return _l("No approval is pending for this rule.")
    if getattr(actor, "id", None) in (rule.approval_requested_by_id, rule.updated_by_id,
                                      rule.created_by_id):
        return _l("Someone other than the rule's author must approve it.")
    return None


def approve(session, rule: AutomationRule, actor, *, switch_on: bool = True) -> None:
    refusal = approval_refusal(rule, actor)
    if refusal is not None:
        raise RuleRefused({"_": refusal})
    rule.approval, rule.approved_by_id, rule.approved_at = "approved", actor.id, utcnow()
    rule.enabled = bool(switch_on)
    log.record("automation_rule.approve", entity="AutomationRule", entity_id=rule.id,
               actor=actor)
    session.commit()


def reject(session, rule: AutomationRule, actor) -> None:
    refusal = approval_refusal(rule, actor)
    if refusal is not None:
        raise RuleRefused({"_": refusal})
    rule.approval, rule.enabled = "rejected", False
    log.record("automation_rule.reject", entity="AutomationRule", entity_id=rule.id,
               actor=actor)
    session.commit()


def _tell_approvers(session, rule, actor) -> None:
    from backoffice.notifications import notify
    from backoffice.notifications.sources import approvers

    from backoffice.automation.actions import rule_name

    notify(session, approvers(session, "can_approve", VIEW, rule.branch_id,
                              exclude=getattr(actor, "id", None)),
           "approval_waiting",
           _l("Automation rule %(name)s is waiting for your approval.",
              name=rule_name(rule)),  # a default rule's name is a message id
           link=f"/automation/rule/{rule.id}", entity="AutomationRule", entity_id=rule.id)


# --- the scheduler -----------------------------------------------------------------------------


def tick(session, config, *, now: dt.datetime | None = None) -> dict:
    """Start every scheduled rule whose slot is due (each slot once), then send messages."""
    from backoffice.automation import messages
    from backoffice.messaging.quiet import to_local, zone
    from jobs.queue import enqueue

    now = now or utcnow()
    local = to_local(now, zone(config))
    started = []
    rules = session.scalars(select(AutomationRule).where(
        AutomationRule.enabled.is_(True), AutomationRule.trigger_kind == "schedule")).all()
    for rule in rules:
        key = schedule.slot_key(rule, local)
        if key is None or not _claim_slot(session, rule, key):
            continue
        started.append(rule.id)
        enqueue("jobs.automation.run_rule", rule.id, trigger="schedule",
                occurrence=f"schedule:{key}", description=_l("Automation rule %(id)s", id=rule.id))
    sent = messages.send_due(session, config, now=now)
    return {"started": started, "messages": sent}


def _claim_slot(session, rule, key: str) -> bool:
    """Take the slot for one run: fresh, or its earlier run failed (a killed worker)."""
    occurrence = f"schedule:{key}"
    if rule.last_schedule_key == key:
        last = session.scalar(select(AutomationRun.status).where(
            AutomationRun.rule_id == rule.id, AutomationRun.occurrence == occurrence)
            .order_by(AutomationRun.id.desc()).limit(1))
        if last != "failed":
            return False
    taken = session.execute(
        update(AutomationRule).where(
            AutomationRule.id == rule.id,
            or_(AutomationRule.last_schedule_key.is_(None),
                AutomationRule.last_schedule_key == rule.last_schedule_key))
        .values(last_schedule_key=key).execution_options(synchronize_session=False)).rowcount
    session.commit()
    return taken == 1


def run_failed(session, job_run_id: int, reason: str) -> None:
    from backoffice import stored_text

    session.rollback()
    session.execute(update(AutomationRun).where(
        AutomationRun.job_run_id == job_run_id, AutomationRun.status == "running")
        .values(status="failed", finished_at=utcnow(),
                error=stored_text.keep(_l("The job stopped: %(reason)s",
                                          reason=(reason or "")[-300:]))))
    session.commit()
