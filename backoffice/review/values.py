"""A customer's writable values as plain JSON data, and back.

A change request stores what the maker proposed as ``{field: JSON value}``; the same shape is
read off a form-populated (not yet written) customer, compared with the live record and applied
to it on approval. Relations travel as their ids (``owner_id``), dates as ISO text, money as
decimal text, so that nothing depends on the session the values came from.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, DateTime, Numeric
from sqlalchemy import inspect as sa_inspect

from models import Customer

# Never proposed: identity, bookkeeping, and what jobs compute.
NOT_PROPOSED = {"id", "customer_no", "version", "created_at", "updated_at", "tier",
                "record_uid"}
# Foreign keys whose relationship a form or API schema sets instead of the column.
RELATIONS = {"owner_id": "owner", "teller_id": "teller", "branch_id": "branch"}
CUSTOM = "custom_fields"


def proposable_fields() -> list[str]:
    """The customer's attributes a change may set: plain columns, and encrypted fields by their
    logical name (``id_number``, never the ciphertext, blind-index or record-uid columns)."""
    from models import crypto

    storage = crypto.storage_columns("customer")
    encrypted = [spec.field for spec in crypto.registered().get("customer", [])]
    columns = [prop.key for prop in Customer.__mapper__.column_attrs]
    plain = [key for key in columns
             if key not in NOT_PROPOSED and key not in storage and not key.startswith("_")]
    return plain + encrypted


def _column_type(field: str):
    column = Customer.__mapper__.column_attrs[field].columns[0]
    return column.type


def to_json(field: str, value):
    """A Python value of ``field`` as JSON data."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: to_json(k, v) for k, v in value.items()}
    return value


def from_json(field: str, value):
    """JSON data back to the Python value ``field`` holds."""
    if value is None or field not in Customer.__mapper__.column_attrs:
        return value
    kind = _column_type(field)
    if isinstance(kind, DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(kind, Date):
        return dt.date.fromisoformat(value)
    if isinstance(kind, Numeric):
        return Decimal(value)
    return value


def _blank_to_none(field: str, value):
    """A blank optional text arrives from a form as ``""``: store it as nothing."""
    if value == "" and field != "name":
        return None
    return value


def snapshot(customer: Customer) -> dict:
    """Every proposable value of ``customer`` as JSON data, relations by id.

    Works on a form-populated object before it is flushed: a relationship the form set wins
    over its (not yet synchronised) foreign-key column.
    """
    state = sa_inspect(customer)
    values = {}
    for field in proposable_fields():
        value = getattr(customer, field)
        relation = RELATIONS.get(field)
        if relation is not None:
            history = state.attrs[relation].history
            if history.added:
                related = history.added[0]
                value = related.id if related is not None else None
            elif value is None and relation in state.dict and state.dict[relation] is not None:
                value = state.dict[relation].id
        if field == CUSTOM:
            value = dict(value or {})
        values[field] = to_json(field, _blank_to_none(field, value))
    return values


def changes_between(live: dict, proposed: dict) -> dict:
    """The proposed values that differ from the live ones."""
    return {field: value for field, value in proposed.items() if live.get(field) != value}


def touched_fields(live: dict, changes: dict) -> set[str]:
    """Names a change touches, custom fields as ``custom_fields.<key>``."""
    names = set()
    for field, value in changes.items():
        if field == CUSTOM:
            old = live.get(CUSTOM) or {}
            new = value or {}
            names.update(f"{CUSTOM}.{key}" for key in set(old) | set(new)
                         if old.get(key) != new.get(key))
        else:
            names.add(field)
    return names


def apply_values(customer: Customer, values: dict, session=None) -> None:
    """Set JSON ``values`` on ``customer``; relations through their objects when a session is
    given (so that a loaded relationship cannot disagree with its new foreign key)."""
    for field, value in values.items():
        python_value = from_json(field, value)
        if field == CUSTOM:
            python_value = dict(python_value or {})
        setattr(customer, field, python_value)
        relation = RELATIONS.get(field)
        if relation is not None and session is not None:
            model = sa_inspect(Customer).relationships[relation].mapper.class_
            setattr(customer, relation,
                    session.get(model, python_value) if python_value is not None else None)
