"""What a delivery's body says: the event, and customer data as the webhook's role sees it.

The body is another system's copy of customer data, so it is one more path that asks the one
policy (``backoffice.security.policy``): every field goes through it as the webhook's role would
see it on a customer in that role's scope. Sensitive fields come masked (the policy masks ID
numbers, mobiles and addresses for every role; the full value is only ever revealed, logged, on
a screen), the deep profile only when the role is granted it, custom fields only for the roles
their definition names. A webhook without a role, or whose role reads no customers, receives no
customer data at all: the event's name and ids only. Which customers reach a webhook is decided
by the events the admin picked (a bank-level integration), not by a member of staff's book.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from backoffice.security import policy, scopes
from backoffice.security.masking import mask_value

# The customer's fields a payload may carry (each as the role sees it).
CUSTOMER_FIELDS = ("customer_no", "name", "customer_type", "gender", "birth_date", "id_type",
                   "id_number", "mobile", "email", "address", "occupation", "risk_tolerance",
                   "tier", "status", "branch_id", "owner_id", "annual_income", "family_notes",
                   "investment_notes")
CUSTOMER = "Customer"


class RoleAgent:
    """Stands for "someone holding this role" where the policy expects a member of staff: no
    id (so owning nothing), active, and holding exactly the role's permissions."""

    id = None
    branch_id = None
    is_active = True
    is_authenticated = True

    def __init__(self, role):
        self.roles = [role] if role is not None else []
        self.username = f"webhook:{getattr(role, 'name', '')}"


def role_viewer(role) -> policy.Viewer:
    """The policy's viewer for a webhook's role: its permissions on a customer in its scope
    (every customer, for a role that reads customers at all); nothing without a role."""
    from config.roles import ROLES

    if role is None:
        return policy.Viewer(RoleAgent(None), scopes.NOTHING)
    kind = ROLES.get(role.name, {}).get("scope", "none")
    scope = scopes.UNRESTRICTED if kind != "none" else scopes.NOTHING
    return policy.Viewer(RoleAgent(role), scope)


def _plain(value):
    """A JSON value: money and numbers as decimal text, dates as ISO text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _masked(kind, value):
    if isinstance(value, dict):
        return {k: _masked(kind, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(kind, v) for v in value]
    return mask_value(kind, _plain(value))


def _shown(entity: str, name: str, record, value, viewer):
    """``(keep, value)``: the value as the viewer may see it, or not at all."""
    read, kind = policy.read_access(entity, name, record, viewer)
    if read is policy.Read.HIDDEN:
        return False, None
    if read is policy.Read.MASKED:
        return True, _masked(kind, value)
    return True, None if value is None else filtered(entity, value, record, viewer)


def filtered(entity: str, node, record, viewer):
    """A document (an event's data, a rule's payload) with every key the viewer may not read
    left out and every masked one masked, judged by the field names it uses."""
    if isinstance(node, list):
        return [filtered(entity, item, record, viewer) for item in node]
    if not isinstance(node, dict):
        return _plain(node)
    out = {}
    for key, value in node.items():
        name = str(key)
        if name == "custom_fields" and isinstance(value, dict):
            custom = {}
            for inner, inner_value in value.items():
                keep, shown = _shown(entity, policy.CUSTOM_PREFIX + str(inner), record,
                                     inner_value, viewer)
                if keep:
                    custom[str(inner)] = shown
            out[name] = custom
            continue
        keep, shown = _shown(entity, name, record, value, viewer)
        if keep:
            out[name] = shown
    return out


def customer_section(customer, viewer) -> dict | None:
    """The customer's fields the role may read (None: none at all)."""
    if customer is None or not viewer.has("can_read", CUSTOMER):
        return None
    if policy.read_access(CUSTOMER, "customer_no", customer, viewer)[0] is policy.Read.HIDDEN:
        return None
    values = {name: getattr(customer, name) for name in CUSTOMER_FIELDS if name != "tier"}
    values["tier"] = customer.effective_tier
    section = {}
    for name in CUSTOMER_FIELDS:
        keep, shown = _shown(CUSTOMER, name, customer, values[name], viewer)
        if keep:
            section[name] = shown
    custom = _custom_values(customer)
    if custom:
        section["custom_fields"] = filtered(CUSTOMER, {"custom_fields": custom}, customer,
                                            viewer)["custom_fields"]
    return section


def _custom_values(customer) -> dict:
    from backoffice.fields.values import read_values

    return {key: value for key, value in read_values(customer).items() if value is not None}


def model_name(entity: str | None) -> str:
    """An event's entity (a table or class name) as the policy's entity name."""
    if not entity:
        return CUSTOMER
    from flask_appbuilder import Model

    for mapper in Model.registry.mappers:
        cls = mapper.class_
        if entity in (cls.__name__, getattr(cls, "__tablename__", None)):
            return cls.__name__
    return entity[:1].upper() + entity[1:]


def build(session, role, *, event_name: str, entity: str | None, entity_id, customer_id,
          data: dict | None, occurred_at: dt.datetime | None, event_id=None) -> dict:
    """The body document of one event for a webhook whose payload follows ``role``."""
    from models import Customer

    viewer = role_viewer(role)
    customer = None
    if customer_id is not None:
        # The bank's integration, not a member of staff's request: loaded whatever the scope
        # of the request or job that raised it.
        customer = session.get(Customer, customer_id,
                               execution_options={"crm_unscoped": True})
    policy_entity = model_name(entity)
    record = customer if policy_entity == CUSTOMER else None
    section = customer_section(customer, viewer)
    if customer_id is not None and section is None:
        shown_data = {}  # about a customer the role may not read: names and ids only
    else:
        shown_data = filtered(policy_entity, dict(data or {}), record or customer, viewer)
    return {
        "event": event_name,
        "event_id": event_id,
        "occurred_at": (occurred_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        .replace(microsecond=0).isoformat() + "Z",
        "entity": entity,
        "entity_id": entity_id,
        "customer_id": customer_id,
        "customer": section,
        "data": shown_data,
    }


def encode(document: dict) -> bytes:
    """The body's bytes: compact UTF-8 JSON with sorted keys (what is signed and kept)."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")
