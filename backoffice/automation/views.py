"""The rule screens: list with on/off switches, the form built by picking, the dry run, the run
log, and the approval of rules that message customers.

Rules are configuration (no customer data); what a rule matched is customer data: the dry run
queries under the viewer's record scope, and the run log's items and the list's counts are read
through the scoped session (``automation_run_item`` is a customer record), so a reader sees only
the matched customers they may see, never another branch's.
"""
from __future__ import annotations

import json

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from backoffice import stored_text
from backoffice.automation import catalog, engine, service
from backoffice.automation.actions import rule_name, settable_columns, settable_fields
from backoffice.extensions import db
from backoffice.security.current import current_user, not_found_if_denied
from models import Campaign, Customer, Segment
from models.automation import AutomationRule, AutomationRun, AutomationRunItem
from models.choices import TASK_TYPES
from models.base import utcnow

METHOD_PERMISSIONS = {"index": "read", "show": "read", "run_log": "read", "approvals": "read",
                      "count": "read", "new": "write", "edit": "write", "switch": "write",
                      "run_now": "write", "request_approval": "write", "decide": "approve"}
OUTCOMES = {"acted": _l("Acted"), "skipped": _l("Skipped"), "failed": _l("Failed"),
            "matched": _l("Matched")}
RUN_TRIGGERS = {"schedule": _l("Schedule"), "event": _l("Event"), "manual": _l("Run now")}
RUN_STATUSES = {"running": _l("Running"), "finished": _l("Finished"), "failed": _l("Failed"),
                "refused": _l("Not run")}
APPROVALS = {"none": _l("Not requested"), "pending": _l("Waiting for approval"),
             "approved": _l("Approved"), "rejected": _l("Rejected")}
ACTION_SLOTS = 3
# The parameters each action kind takes from the form (the other sections are hidden).
ACTION_PARAMS = {"task": ("assignee", "role", "task_type", "title", "due_days", "notes",
                          "unless_open"),
                 "notify": ("assignee", "role", "text"),
                 "message": ("channel", "purpose", "subject", "body"),
                 "set_field": ("field", "value"), "segment": ("segment_id",),
                 "campaign": ("campaign_id",), "webhook": ("webhook_id",)}
NUMBERS = ("due_days", "segment_id", "campaign_id", "webhook_id")


def _rule_or_404(pk) -> AutomationRule:
    rule = db.session.get(AutomationRule, pk)
    if rule is None or not service.covers(current_user(), rule):
        abort(404)
    return rule


def visible_counts(run_ids) -> dict:
    """run id -> {outcome: count} over the items the viewer may see (scoped query)."""
    if not run_ids:
        return {}
    rows = db.session.execute(
        select(AutomationRunItem.run_id, AutomationRunItem.outcome, func.count())
        .where(AutomationRunItem.run_id.in_(list(run_ids)))
        .group_by(AutomationRunItem.run_id, AutomationRunItem.outcome)).all()
    found: dict = {}
    for run_id, outcome, n in rows:
        found.setdefault(run_id, {})[outcome] = n
    return found


def describe_trigger(rule: AutomationRule) -> str:
    if rule.trigger_kind == "record":
        record = catalog.RECORD_TYPES.get(rule.trigger_entity)
        text = _("%(record)s %(on)s", record=record.label if record else "—",
                 on=catalog.RECORD_ON.get(rule.trigger_on or "changed", ""))
        if rule.trigger_field:
            label = next((f["label"] for f in catalog.record_fields(rule.trigger_entity)
                          if f["key"] == rule.trigger_field), "—")
            text += _(": %(field)s", field=label)
        return text
    if rule.trigger_kind == "event":
        return str(catalog.events_offered().get(rule.trigger_event, "—"))
    return _("%(when)s at %(time)s", when=catalog.SCHEDULE_KINDS.get(rule.schedule_kind, "—"),
             time=rule.schedule_time or "08:00")


class AutomationView(BaseView):
    """``/automation/``: rules, their dry runs, run logs and approvals."""

    route_base = "/automation"
    class_permission_name = "AutomationRule"
    method_permission_name = METHOD_PERMISSIONS
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        user = current_user()
        rules = service.visible_rules(db.session, user)
        last = {}
        for rule in rules:
            last[rule.id] = db.session.scalar(
                select(AutomationRun).where(AutomationRun.rule_id == rule.id)
                .order_by(AutomationRun.id.desc()).limit(1))
        counts = visible_counts([run.id for run in last.values() if run is not None])
        rows = [(rule, rule_name(rule), describe_trigger(rule), last[rule.id],
                 counts.get(last[rule.id].id, {}) if last[rule.id] else {}) for rule in rules]
        return self.render_template("automation/index.html", rows=rows, approvals=APPROVALS,
                                    may_write=service.may_write(user),
                                    title=_l("Automation rules"))

    @expose("/rule/<int:pk>")
    @not_found_if_denied
    @has_access
    def show(self, pk):
        rule = _rule_or_404(pk)
        user = current_user()
        total, first = engine.dry_run(db.session, rule, today=utcnow().date())
        runs = db.session.scalars(select(AutomationRun).where(AutomationRun.rule_id == rule.id)
                                  .order_by(AutomationRun.id.desc()).limit(20)).all()
        return self.render_template(
            "automation/show.html", rule=rule, name=rule_name(rule),
            description=stored_text.show(rule.description), trigger=describe_trigger(rule),
            actions=[describe_action(a) for a in rule.actions or []], total=total, first=first,
            runs=runs, counts=visible_counts([r.id for r in runs]), approvals=APPROVALS,
            run_triggers=RUN_TRIGGERS, run_statuses=RUN_STATUSES,
            records={k: v.label for k, v in catalog.RECORD_TYPES.items()},
            messages=engine.messages_customers(rule), may_write=service.may_write(user),
            refusal=service.approval_refusal(rule, user), title=rule_name(rule))

    @expose("/run/<int:pk>")
    @not_found_if_denied
    @has_access
    def run_log(self, pk):
        run = db.session.get(AutomationRun, pk) or abort(404)
        rule = _rule_or_404(run.rule_id)
        outcome = request.args.get("outcome")
        query = (select(AutomationRunItem, Customer.customer_no, Customer.name)
                 .join(Customer, Customer.id == AutomationRunItem.customer_id)
                 .where(AutomationRunItem.run_id == run.id))
        if outcome in OUTCOMES:
            query = query.where(AutomationRunItem.outcome == outcome)
        items = db.session.execute(query.order_by(AutomationRunItem.id).limit(500)).all()
        return self.render_template(
            "automation/run.html", rule=rule, name=rule_name(rule), run=run, items=items,
            counts=visible_counts([run.id]).get(run.id, {}), outcomes=OUTCOMES,
            run_triggers=RUN_TRIGGERS, run_statuses=RUN_STATUSES,
            records={k: v.label for k, v in catalog.RECORD_TYPES.items()},
            title=_l("Run log"))

    @expose("/approvals")
    @has_access
    def approvals(self):
        user = current_user()
        pending = [rule for rule in service.visible_rules(db.session, user)
                   if rule.approval == "pending"]
        return self.render_template(
            "automation/approvals.html",
            rows=[(rule, rule_name(rule), service.approval_refusal(rule, user))
                  for rule in pending], title=_l("Rules waiting for approval"))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        rule = AutomationRule(trigger_kind="record", trigger_entity="customer",
                              trigger_on="changed", actions=[], enabled=False,
                              approval="none", conditions={"op": "and", "items": []})
        return self._form(rule)

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @not_found_if_denied
    @has_access
    def edit(self, pk):
        return self._form(_rule_or_404(pk))

    def _form(self, rule):
        from backoffice.segments.views import current_fields

        errors: dict = {}
        if request.method == "POST":
            values = form_values(request.form)
            try:
                _check_custom_values(values)
                service.save(db.session, rule, values, current_user())
            except service.RuleRefused as exc:
                db.session.rollback()
                errors = exc.errors
                for key, value in values.items():
                    if key in ("conditions", "actions"):
                        setattr(rule, key, value)
            else:
                flash(_("Saved."), "info")
                return redirect(url_for("AutomationView.show", pk=rule.id))
        from backoffice.segments.catalog import describe

        return self.render_template(
            "automation/edit.html", rule=rule, errors=errors, name=rule_name(rule),
            description=stored_text.show(rule.description), choices=form_choices(),
            actions=(list(rule.actions or []) + [{}] * ACTION_SLOTS)[:ACTION_SLOTS],
            rule_fields=describe(current_fields()),
            rule_conditions=rule.conditions or {"op": "and", "items": []},
            count_url=url_for("AutomationView.count"),
            title=_l("Edit rule") if rule.id else _l("New rule"))

    @expose("/count", methods=["POST"])
    @has_access
    def count(self):
        """The rule builder's live count: customers the viewer may see that match (the
        segments room's rule, fields and deep-profile guard)."""
        from backoffice.segments import guard
        from backoffice.segments import rules as r
        from backoffice.segments.views import current_fields

        payload = request.get_json(silent=True) or {}
        fields = current_fields()
        try:
            condition = r.compile_rule(payload.get("rule") or {}, fields, today=utcnow().date(),
                                       dialect=db.session.get_bind().dialect.name)
        except (r.RuleError, ValueError) as exc:
            return jsonify(errors=getattr(exc, "errors", [str(exc)])), 422
        query = select(func.count(Customer.id)).where(condition)
        restricted = guard.condition([payload.get("rule")], fields)
        if restricted is not None:
            query = query.where(restricted)
        return jsonify(count=int(db.session.scalar(query) or 0))

    @expose("/switch/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def switch(self, pk):
        rule = _rule_or_404(pk)
        try:
            service.switch(db.session, rule, request.form.get("on") == "y", current_user())
        except service.RuleRefused as exc:
            db.session.rollback()
            flash(" ".join(str(v) for v in exc.errors.values()), "danger")
        return redirect(request.form.get("next") or url_for("AutomationView.index"))

    @expose("/run-now/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def run_now(self, pk):
        from jobs.queue import enqueue

        rule = _rule_or_404(pk)
        if not engine.may_run(rule):
            flash(_("The rule is off or waits for approval."), "danger")
        else:
            user = current_user()
            enqueue("jobs.automation.run_rule", rule.id, trigger="manual",
                    started_by_id=user.id, requested_by_id=user.id,
                    description=_l("Automation rule %(id)s", id=rule.id))
            flash(_("The rule is running; its log shows what it did."), "info")
        return redirect(url_for("AutomationView.show", pk=pk))

    @expose("/request-approval/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def request_approval(self, pk):
        rule = _rule_or_404(pk)
        try:
            service.request_approval(db.session, rule, current_user())
            flash(_("Sent for approval."), "info")
        except service.RuleRefused as exc:
            db.session.rollback()
            flash(" ".join(str(v) for v in exc.errors.values()), "danger")
        return redirect(url_for("AutomationView.show", pk=pk))

    @expose("/decide/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def decide(self, pk):
        rule = _rule_or_404(pk)
        try:
            if request.form.get("decision") == "approve":
                service.approve(db.session, rule, current_user())
                flash(_("Approved and switched on."), "info")
            else:
                service.reject(db.session, rule, current_user())
                flash(_("Rejected."), "info")
        except service.RuleRefused as exc:
            db.session.rollback()
            flash(" ".join(str(v) for v in exc.errors.values()), "danger")
        return redirect(url_for("AutomationView.show", pk=pk))


# --- the form ----------------------------------------------------------------------------------


def form_choices() -> dict:
    """Everything the form offers, as (value, label) lists: nothing is typed by name."""
    from config.roles import ROLES

    roles = [(name, str(ROLES[name]["label"])) for name in _role_names()]
    return {
        "trigger_kinds": catalog.TRIGGER_KINDS, "record_on": catalog.RECORD_ON,
        "records": {k: v.label for k, v in catalog.RECORD_TYPES.items()},
        "record_fields": {k: catalog.record_fields(k) for k in catalog.RECORD_TYPES},
        "events": catalog.events_offered(), "schedules": catalog.SCHEDULE_KINDS,
        "action_kinds": catalog.ACTION_KINDS, "assignees": catalog.ASSIGNEES, "roles": roles,
        "task_types": TASK_TYPES, "channels": catalog.MESSAGE_CHANNELS,
        "purposes": catalog.MESSAGE_PURPOSES,
        "settable": list(settable_fields().values()),
        "segments": [(s.id, s.name) for s in db.session.scalars(
            select(Segment).where(Segment.kind != "tier").order_by(Segment.name))],
        "campaigns": [(c.id, c.name) for c in db.session.scalars(
            select(Campaign).where(Campaign.status.in_(("approved", "running")))
            .order_by(Campaign.name))],
        "webhooks": _webhooks(),
    }


def _role_names() -> list[str]:
    from config.roles import ROLES

    return [name for name in ROLES if ROLES[name].get("scope") not in ("none",)]


def _webhooks() -> list[tuple[int, str]]:
    from models.webhooks import Webhook

    return [(w.id, w.name) for w in db.session.scalars(select(Webhook).order_by(Webhook.id))]


def _int(raw):
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def form_values(form) -> dict:
    """The posted form as the rule's column values (validated by ``service.validate``)."""
    kind = form.get("trigger_kind")
    values = {
        "name": (form.get("name") or "").strip()[:120],
        "description": (form.get("description") or "").strip() or None,
        "trigger_kind": kind,
        "trigger_entity": form.get("trigger_entity") if kind == "record" else None,
        "trigger_on": form.get("trigger_on") if kind == "record" else None,
        "trigger_field": (form.get("trigger_field") or None) if kind == "record" else None,
        "trigger_from": (form.get("trigger_from") or None) if kind == "record" else None,
        "trigger_to": (form.get("trigger_to") or None) if kind == "record" else None,
        "trigger_event": form.get("trigger_event") if kind == "event" else None,
        "schedule_kind": form.get("schedule_kind") if kind == "schedule" else None,
        "schedule_time": (form.get("schedule_time") or "08:00")[:5] if kind == "schedule"
        else None,
        "schedule_day": _int(form.get("schedule_day")) if kind == "schedule" else None,
        "max_per_run": _int(form.get("max_per_run")),
        "max_per_hour": _int(form.get("max_per_hour")),
    }
    try:
        values["conditions"] = json.loads(form.get("rule") or "null") or None
    except ValueError:
        values["conditions"] = {"op": "and", "items": [], "bad": True}
    actions = []
    for slot in range(ACTION_SLOTS):
        kind_ = form.get(f"a{slot}_kind")
        if not kind_:
            continue
        action = {"kind": kind_}
        wanted = ACTION_PARAMS.get(kind_, ())
        for key in wanted:
            raw = form.get(f"a{slot}_{key}")
            if key in NUMBERS:
                if _int(raw) is not None:
                    action[key] = _int(raw)
            elif key == "unless_open":
                if raw == "y":
                    action[key] = True
            elif key == "value" and len(form.getlist(f"a{slot}_{key}")) > 1:
                # several choices of a multiple-choice field, as its value is typed
                action[key] = ",".join(item.strip() for item in form.getlist(f"a{slot}_{key}"))
            elif raw not in (None, ""):
                action[key] = raw.strip()
        if action.get("assignee") != "role":
            action.pop("role", None)
        actions.append(action)
    values["actions"] = actions
    return values


def describe_action(action: dict) -> str:
    kind = action.get("kind")
    label = str(catalog.ACTION_KINDS.get(kind, "—"))
    parts = []
    if kind in ("task", "notify"):
        parts.append(str(catalog.ASSIGNEES.get(action.get("assignee"), "")))
    if kind == "task":
        parts.append(str(TASK_TYPES.get(action.get("task_type"), "")))
        if action.get("due_days") is not None:
            parts.append(_("due in %(n)s working days", n=action["due_days"]))
    if kind == "message":
        parts.append(str(catalog.MESSAGE_CHANNELS.get(action.get("channel"), "")))
    if kind == "set_field":
        field = settable_columns().get(action.get("field"))
        parts.append(field["label"] if field else _custom_label(action.get("field")))
    return label + (": " + ", ".join(p for p in parts if p) if any(parts) else "")


def _check_custom_values(values: dict) -> None:
    """A custom field's value the field refuses whatever the customer is refused on saving,
    with the field's own message, together with every other problem of the rule."""
    from backoffice.automation import custom_fields

    problem = custom_fields.value_problem(values.get("actions") or [])
    if problem is not None:
        errors = service.validate(db.session, values, current_user())
        errors.setdefault("actions", problem)
        raise service.RuleRefused(errors)


def _custom_label(key) -> str:
    """A stored rule's custom field the reader may not set by a rule (sensitive now, say): its
    label if the reader sees the field, so the rule still says what it names."""
    from backoffice.automation import custom_fields
    from backoffice.fields.access import may_see
    from backoffice.fields.registry import field_spec

    spec = field_spec(custom_fields.ENTITY, key[len(custom_fields.PREFIX):],
                      include_archived=True) if custom_fields.is_custom(key) else None
    if spec is None or not may_see(spec):
        return "—"
    return f"{spec.label()} ({_('custom field')})"


def register(appbuilder) -> None:
    from config import roles as r

    appbuilder.add_view(AutomationView, r.MENU_AUTOMATION, label=_l("Automation rules"),
                        href="/automation/", icon="fa-magic", category=r.CATEGORY_SYSTEM,
                        category_label=_l("System"), category_icon="fa-cogs")
