"""What a rule is built from, as the rule form offers it: trigger kinds, record types and their
fields, events, schedules and action kinds, each with a translated label (nothing typed).

Record types name the model, the label and how a record reaches its customer: rule conditions
are the segment rule builder's conditions on that customer.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Text
from sqlalchemy import inspect as sa_inspect

from models import (Account, ChangeRequest, Complaint, Customer, FollowUp, Interaction,
                    LoanApplication)

TRIGGER_KINDS = {"record": _l("A record is created or changed"),
                 "schedule": _l("On a schedule"),
                 "event": _l("An event happens")}
RECORD_ON = {"created": _l("created"), "changed": _l("changed")}
SCHEDULE_KINDS = {"daily": _l("Every day"), "workdays": _l("Chinese working days only"),
                  "monthly": _l("Every month")}


@dataclass(frozen=True)
class RecordType:
    code: str
    model: type
    label: object

    def customer_column(self):
        return self.model.id if self.model is Customer else self.model.customer_id


RECORD_TYPES = {rt.code: rt for rt in (
    RecordType("customer", Customer, _l("Customer")),
    RecordType("account", Account, _l("Account")),
    RecordType("interaction", Interaction, _l("Interaction")),
    RecordType("follow_up", FollowUp, _l("Follow-up task")),
    RecordType("complaint", Complaint, _l("Complaint")),
    RecordType("loan_application", LoanApplication, _l("Loan application")),
    RecordType("change_request", ChangeRequest, _l("Change request")),
)}

ACTION_KINDS = {
    "task": _l("Create a follow-up task"),
    "message": _l("Send the customer a message"),
    "set_field": _l("Set a customer field"),
    "segment": _l("Add to a segment"),
    "campaign": _l("Add to a campaign audience"),
    "notify": _l("Notify staff in the app"),
    "webhook": _l("Call a webhook"),
}
# Who gets a task or a notice, by relation to the record's customer.
ASSIGNEES = {"owner": _l("The customer's relationship manager"),
             "branch_manager": _l("The branch manager"),
             "role": _l("Everyone with a role in the customer's branch")}
MESSAGE_CHANNELS = {"sms": _l("SMS"), "email": _l("E-mail"), "wechat": _l("WeChat")}
MESSAGE_PURPOSES = {"service": _l("Service"), "marketing": _l("Marketing")}
CUSTOMER_MESSAGING = frozenset({"message", "campaign"})  # actions that reach customers: approval

# Columns not offered on the form: identity, bookkeeping, ciphertext and blind indexes.
_HIDDEN = {"id", "record_uid", "version", "created_at", "updated_at", "custom_fields",
           "customer_id"}


def _type_of(column) -> str:
    kind = column.type
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, (DateTime, Date)):
        return "date"
    if isinstance(kind, (Integer, Numeric)):
        return "number"
    if isinstance(kind, (String, Text)):
        return "text"
    return "text"


def record_fields(code: str) -> list[dict]:
    """``[{key, label, type, choices}]`` of a record type's plain fields, for the from/to picker.

    Sensitive fields (encrypted, masked, deep profile) are left out: their values never travel
    in events, so "changed from/to" cannot be tested on them (``backoffice.events``). Labels
    are the record's screens' own (a column no screen labels is not offered).
    """
    from backoffice import events

    record_type = RECORD_TYPES[code]
    labels = _screen_labels(record_type.model)
    found = []
    for column in sa_inspect(record_type.model).columns:
        key = column.key
        if key in _HIDDEN or key.endswith(("_enc", "_bidx")) or events._sensitive(code, key):
            continue
        label = labels.get(key)
        if label is None or type(label) is str:  # FAB's made-up English label
            continue
        found.append({"key": key, "label": str(label), "type": _type_of(column),
                      "choices": [[k, str(v)] for k, v in _choices(code, key).items()]})
    return sorted(found, key=lambda f: f["label"])


def _screen_labels(model) -> dict:
    from flask import current_app

    labels: dict = {}
    for view in current_app.appbuilder.baseviews:
        if getattr(getattr(view, "datamodel", None), "obj", None) is model:
            for key, label in (getattr(view, "label_columns", None) or {}).items():
                if type(labels.get(key)) in (type(None), str):
                    labels[key] = label
    return labels


def _choices(code: str, key: str) -> dict:
    from models import choices as c

    common = {"tier": c.TIERS, "tier_override": c.TIERS, "risk_tolerance": c.RISK_TOLERANCES,
              "gender": c.GENDERS, "customer_type": c.CUSTOMER_TYPES,
              "task_type": c.TASK_TYPES, "direction": c.INTERACTION_DIRECTIONS}
    if key == "status":
        from backoffice.service.views import COMPLAINT_STATUSES, LOAN_STATUSES

        return {"customer": c.CUSTOMER_STATUSES, "account": c.ACCOUNT_STATUSES,
                "follow_up": c.TASK_STATUSES, "complaint": COMPLAINT_STATUSES,
                "loan_application": LOAN_STATUSES}.get(code, {})
    if code == "interaction" and key in ("channel", "topic"):
        return c.INTERACTION_CHANNELS if key == "channel" else c.INTERACTION_TOPICS
    return common.get(key, {})


def events_offered() -> dict[str, object]:
    """Declared events (the features raising them are imported so that each declares)."""
    from backoffice import events
    from backoffice.campaigns import service as _campaigns  # noqa: F401 - campaign.closed
    from backoffice.churn import tier_events as _churn  # noqa: F401 - churn.tier_reached
    from backoffice.segments import tier_events as _tiers  # noqa: F401 - tier changes
    from backoffice.service import complaints as _complaints  # noqa: F401 - complaint.opened
    from backoffice.service import reminders as _reminders  # noqa: F401 - task.overdue

    return {name: d.label for name, d in events.declared().items()
            if not name.startswith("record.")}
