"""Automatic capture: every create, update and delete of an audited model, field by field.

An ``after_flush`` hook on the session turns the flush's new, changed and deleted objects of
audited classes into log rows, written on the flush's own connection: the rows commit with the
change they describe, or not at all. (In ``after_flush`` the objects still carry their attribute
history and new objects already have their ids.)

Sensitive values never reach the log: every value of a sensitive field goes through the masking
helper, and a field stored encrypted behind a property (``customer.id_number`` over its
ciphertext column) is diffed by its logical name, its before-value read through the property on
a view of the row that still holds the old ciphertext; the ciphertext columns themselves are
never logged. Noise (timestamps, version counters, login counters) is left out, and a password
change is logged as "changed", never the hash.

Bulk pipelines that log one summary row instead (imports) wrap their work in ``paused(session)``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import inspect as pyinspect
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import event, inspect
from sqlalchemy.orm import ColumnProperty
from sqlalchemy.orm.base import NO_VALUE

from backoffice.audit import chain, log

PAUSE_KEY = "crm_audit_paused"
HIDDEN = "******"
NOISE = frozenset({
    "created_at", "updated_at", "version", "created_on", "changed_on", "created_by_fk",
    "changed_by_fk", "last_login", "login_count", "fail_login_count", "password_changed_at",
    "record_uid",
})
SECRET_COLUMNS = frozenset({"password"})


@dataclass
class Audited:
    """How one class is logged."""

    entity: str
    customer_id_attr: str | None = None
    action_prefix: str | None = None  # "config_change" for configuration entities
    collections: tuple = ()
    exclude: frozenset = frozenset()
    sensitive: dict = field(default_factory=dict)  # extra logical field -> masking kind


_registry: dict[type, Audited] = {}
_plan_cache: dict[type, tuple] = {}


def audit_model(cls, customer_id_attr=None, *, entity=None, config=False, collections=(),
                exclude=(), sensitive=None):
    """Log creates, updates and deletes of ``cls`` (and its subclasses) from now on.

    ``customer_id_attr`` names the attribute holding the customer the record is about;
    ``config=True`` logs changes as ``config_change`` (roles, users, permissions, fields);
    ``collections`` are many-to-many relationships logged as added/removed names;
    ``sensitive`` maps extra field names to masking kinds.
    """
    _registry[cls] = Audited(
        entity=entity or cls.__name__,
        customer_id_attr=customer_id_attr,
        action_prefix="config_change" if config else None,
        collections=tuple(collections),
        exclude=frozenset(exclude),
        sensitive=dict(sensitive or {}),
    )
    _plan_cache.clear()
    return cls


def register_defaults() -> None:
    """The models the issue names, and the custom-field definitions and field sets (their room
    sits below the log, so the log names them); later rooms call ``audit_model`` for their own."""
    from flask_appbuilder.security.sqla.models import Group, Role

    from models import Account, Branch, Customer, FollowUp, Interaction, Product, Staff
    from models.fields import CustomFieldDefinition, FieldSet

    audit_model(Customer, "id")
    audit_model(Account, "customer_id")
    audit_model(Interaction, "customer_id")
    audit_model(FollowUp, "customer_id")
    audit_model(Branch)
    audit_model(Product)
    audit_model(Staff, entity="Staff", config=True, collections=("roles", "groups"))
    audit_model(Role, config=True, collections=("permissions",))
    audit_model(Group, config=True, collections=("roles",))
    audit_model(CustomFieldDefinition, entity="CustomField", config=True)
    audit_model(FieldSet, entity="FieldSet", config=True)


@contextlib.contextmanager
def paused(session):
    """Suspend automatic capture on ``session`` (the caller logs a summary row itself)."""
    previous = session.info.get(PAUSE_KEY)
    session.info[PAUSE_KEY] = True
    try:
        yield
    finally:
        if previous is None:
            session.info.pop(PAUSE_KEY, None)
        else:
            session.info[PAUSE_KEY] = previous


def install(session_factory) -> None:
    """Attach the flush and bulk-statement hooks once to the (scoped) session factory."""
    if not event.contains(session_factory, "after_flush", _after_flush):
        event.listen(session_factory, "after_flush", _after_flush)
        event.listen(session_factory, "do_orm_execute", _bulk_statement)


def _bulk_statement(orm_execute_state):
    """Set-based ``update(Model)`` / ``delete(Model)`` bypass the flush: log one summary row.

    Row-by-row before/after values are not known to a set-based statement (reading them first
    would defeat its purpose), so the row names the entity, the columns set and the row count.
    """
    session = orm_execute_state.session
    if orm_execute_state.is_insert:
        session.info[log.DIRTY_KEY] = True  # the transaction now holds writes
    if not (orm_execute_state.is_update or orm_execute_state.is_delete):
        return None
    session.info[log.DIRTY_KEY] = True
    mapper = orm_execute_state.bind_mapper
    spec = _registry_lookup(mapper.class_) if mapper is not None else None
    if spec is None or session.info.get(PAUSE_KEY):
        return None
    result = orm_execute_state.invoke_statement()
    detail = {"bulk": True, "rows": result.rowcount}
    statement = orm_execute_state.statement
    if orm_execute_state.is_update:
        values = getattr(statement, "_values", None) or {}
        detail["columns"] = sorted(getattr(key, "key", str(key)) for key in values)
    action = "update" if orm_execute_state.is_update else "delete"
    if spec.action_prefix:
        detail["op"], action = action, spec.action_prefix
    chain.append(session.connection(), [log.build_row(action, entity=spec.entity,
                                                      detail=detail)])
    return result


def _registry_lookup(cls) -> Audited | None:
    for klass in cls.__mro__:
        spec = _registry.get(klass)
        if spec is not None:
            return spec
    return None


def _audited(obj) -> Audited | None:
    return _registry_lookup(type(obj))


def _after_flush(session, _context) -> None:
    if session.info.get(PAUSE_KEY) or not _registry:
        return
    rows = []
    for op, objects in (("create", session.new), ("update", session.dirty),
                        ("delete", session.deleted)):
        for obj in objects:
            spec = _audited(obj)
            if spec is None:
                continue
            row = _row_for(op, obj, spec)
            if row is not None:
                rows.append(row)
    if rows:
        chain.append(session.connection(), rows)


def _row_for(op: str, obj, spec: Audited) -> dict | None:
    state = inspect(obj)
    if op == "update":
        detail = _changes(obj, state, spec)
        if not detail:
            return None
        detail = {"changes": detail}
    else:
        detail = {"values": _values(obj, state, spec, deleted=(op == "delete"))}
    action = op
    if spec.action_prefix:
        action = spec.action_prefix
        detail["op"] = op
    # New objects have their keys by now, but not yet their identity (set after the flush).
    identity = state.mapper.primary_key_from_instance(obj)
    entity_id = identity[0] if len(identity) == 1 else ",".join(map(str, identity))
    customer_id = None
    if spec.customer_id_attr:
        customer_id = _committed_or_current(state, spec.customer_id_attr, deleted=op == "delete")
    return log.build_row(action, entity=spec.entity, entity_id=entity_id,
                         customer_id=customer_id, detail=detail)


def _committed_or_current(state, key, deleted):
    """An attribute's value; for a deleted row, the value it had when it was deleted."""
    attr = state.attrs[key]
    if deleted and attr.history.deleted:
        return attr.history.deleted[0]
    value = attr.loaded_value
    return None if value is NO_VALUE else value


# --- what to log per class -------------------------------------------------------------------

def _plan(cls, spec: Audited):
    """(plain columns, sensitive column -> kind, encrypted logical -> (kind, storage columns))."""
    cached = _plan_cache.get(cls)
    if cached is not None:
        return cached
    mapper = inspect(cls)
    kinds = {**_sensitive_fields(), **spec.sensitive}
    columns = [p.key for p in mapper.iterate_properties
               if isinstance(p, ColumnProperty) and p.key not in NOISE
               and p.key not in spec.exclude]
    encrypted = {}
    for logical, kind in kinds.items():
        if logical in columns or not hasattr(cls, logical):
            continue
        storage = [c for c in _storage_of(cls, logical) if c in columns]
        if storage:
            encrypted[logical] = (kind, tuple(storage))
    hidden_storage = {c for _kind, cols in encrypted.values() for c in cols}
    plain = [c for c in columns if c not in hidden_storage]
    result = (plain, {c: kinds[c] for c in plain if c in kinds}, encrypted)
    _plan_cache[cls] = result
    return result


def _storage_of(cls, logical) -> list[str]:
    """The columns an encrypted field is stored in (ciphertext, blind index)."""
    spec = getattr(pyinspect.getattr_static(cls, logical, None), "encrypted_spec", None)
    if spec is not None:
        return [c for c in (spec.column, getattr(spec, "index_column", None)) if c]
    return [c.key for c in inspect(cls).column_attrs
            if c.key.startswith(f"{logical}_") or c.key == f"_{logical}"]


def _sensitive_fields() -> dict:
    from backoffice.security.masking import SENSITIVE_FIELDS

    return dict(SENSITIVE_FIELDS)


def mask(kind: str, value):
    """The masked form the log keeps of a sensitive value."""
    if value is None or value == "":
        return value
    from backoffice.security.masking import mask_value

    try:
        return mask_value(kind, value)
    except Exception:  # noqa: BLE001 - never let masking trouble leak the value
        return HIDDEN


def _json(value):
    """A value as the log's JSON keeps it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def _values(obj, state, spec, deleted: bool) -> dict:
    """Every logged field's value (for a delete, the values as they were)."""
    plain, sensitive, encrypted = _plan(type(obj), spec)
    values = {}
    for key in plain:
        attr = state.attrs[key]
        # What the object holds, without loading anything (a deleted row cannot be read back).
        value = attr.loaded_value
        if deleted and attr.history.deleted:
            value = attr.history.deleted[0]
        if value is NO_VALUE:
            continue
        if key in SECRET_COLUMNS:
            values[key] = "set" if value else None
        elif key in sensitive:
            values[key] = mask(sensitive[key], value)
        elif key == "custom_fields" and isinstance(value, dict):
            values[key] = {name: _custom_logged(obj, name, item, sensitive)
                           for name, item in value.items()}
        else:
            values[key] = _json(value)
    for logical, (kind, _storage) in encrypted.items():
        values[logical] = mask(kind, _read(obj, logical))
    for name in spec.collections:
        if name in state.attrs:
            items = state.attrs[name].loaded_value
            if items is not NO_VALUE:
                values[name] = sorted(str(item) for item in (items or []))
    return values


def _changes(obj, state, spec) -> dict:
    """Field -> {before, after} for every logged field the flush changed."""
    plain, sensitive, encrypted = _plan(type(obj), spec)
    changes = {}
    for key in plain:
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if before == after and history.deleted:
            continue
        if key in SECRET_COLUMNS:
            changes[key] = "changed"
        elif key == "custom_fields" and isinstance(after, dict):
            changes.update(_custom_changes(obj, before or {}, after, sensitive))
        elif key in sensitive:
            changes[key] = {"before": mask(sensitive[key], before),
                            "after": mask(sensitive[key], after)}
        else:
            changes[key] = {"before": _json(before), "after": _json(after)}
    for logical, (kind, storage) in encrypted.items():
        old = {}
        for column in storage:
            history = state.attrs[column].history
            if history.has_changes() and history.deleted:
                old[column] = history.deleted[0]
        touched = any(state.attrs[c].history.has_changes() for c in storage)
        if not touched:
            continue
        before = _read_before(obj, logical, old) if old else None
        after = _read(obj, logical)
        if before == after:
            continue
        changes[logical] = {"before": mask(kind, before), "after": mask(kind, after)}
    for name in spec.collections:
        if name not in state.attrs:
            continue
        history = state.attrs[name].history
        added = sorted(str(item) for item in history.added or ())
        removed = sorted(str(item) for item in history.deleted or ())
        if added or removed:
            changes[name] = {"added": added, "removed": removed}
    return changes


def _custom_changes(obj, before: dict, after: dict, sensitive: dict) -> dict:
    """Custom fields diffed key by key, as ``custom_fields.<key>`` (sensitive ones masked)."""
    changes = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        changes[f"custom_fields.{key}"] = {"before": _custom_logged(obj, key, old, sensitive),
                                           "after": _custom_logged(obj, key, new, sensitive)}
    return changes


def _custom_logged(obj, key: str, stored, sensitive: dict):
    """What the log keeps of one stored custom value: as stored, or masked if the field is
    sensitive (its sealed value is opened only to be masked like the built-in fields)."""
    if stored is None:
        return None
    if key in sensitive:
        return mask(sensitive[key], stored)
    try:
        from backoffice.fields import values as v
        from backoffice.fields.registry import entity_of, field_spec
        from backoffice.security.masking import mask_custom

        entity = entity_of(obj)
        spec = field_spec(entity, key, include_archived=True) if entity else None
        if spec is None or not spec.sensitive:
            return _json(stored)
        typed = v.from_storage(spec, stored, v.record_uid(obj))
        return mask_custom(spec, v.as_raw(spec, typed))
    except Exception:  # noqa: BLE001 - unreadable or unknown: hidden rather than leaked
        return HIDDEN


def _read(obj, logical):
    try:
        return getattr(obj, logical)
    except Exception:  # noqa: BLE001 - an undecryptable value is logged as hidden
        return HIDDEN


class _Before:
    """The object as it was: the storage columns' old values, everything else delegated."""

    def __init__(self, obj, old: dict):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_old", old)

    def __getattr__(self, name):
        old = object.__getattribute__(self, "_old")
        if name in old:
            return old[name]
        return getattr(object.__getattribute__(self, "_obj"), name)


def _read_before(obj, logical, old: dict):
    """The logical value before the flush, read through the class's own property getter."""
    descriptor = pyinspect.getattr_static(type(obj), logical, None)
    getter = getattr(descriptor, "fget", None)
    if getter is None:
        return HIDDEN
    try:
        return getter(_Before(obj, old))
    except Exception:  # noqa: BLE001 - cannot read the old value: say it changed, no more
        return HIDDEN
