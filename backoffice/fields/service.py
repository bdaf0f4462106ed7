"""Use cases on field definitions: check a definition, save it, archive and restore it.

Shared by the admin screens and (later) the CLI and API. A definition is checked as a whole,
collecting every problem: the key is a slug that no other field of the entity uses and that
never changes once a record holds a value; the bounds, default, length and pattern fit the type;
choices have distinct values; making a field unique finds no duplicates; a new type or new
choices fit every stored value (``changes``). Nothing here deletes stored values.
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from backoffice.fields import changes
from backoffice.fields import values as v
from backoffice.fields.filters import element, range_element
from backoffice.fields.registry import (
    CHOICE_TYPES,
    RANGE_TYPES,
    STORAGE_COLUMN,
    FieldSpec,
    builtin_columns,
    entity_model,
    spec_of,
)
from models.fields import ENTITIES, FIELD_TYPES, CustomFieldDefinition

log = logging.getLogger(__name__)
# Definition checks and conversions concern every record, whoever the admin is: they run outside
# the record scope (an admin sees no customer data, yet a key in use must stay fixed).
UNSCOPED = {"crm_unscoped": True}
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CHOICE_VALUE_RE = re.compile(r"^[^,|\n]{1,64}$")


def _session(session):
    if session is not None:
        return session
    from backoffice.extensions import db

    return db.session


def values_count(spec: FieldSpec, session=None) -> int:
    """How many records hold a value of the field (any type, archived or not)."""
    model = entity_model(spec.entity)
    if model is None:
        return 0
    document = getattr(model, STORAGE_COLUMN)
    return _session(session).execute(
        select(func.count()).select_from(model).where(
            document[spec.key].as_string().isnot(None)).execution_options(**UNSCOPED)).scalar()


def duplicates(spec: FieldSpec, session=None) -> int:
    """How many distinct values of the field are held by more than one record."""
    model = entity_model(spec.entity)
    if model is None or spec.sensitive:
        return 0
    session = _session(session)
    expr = element(spec, model, session.get_bind().dialect.name)
    grouped = (select(expr).where(expr.isnot(None)).group_by(expr)
               .having(func.count() > 1).subquery())
    return session.execute(select(func.count()).select_from(grouped)
                           .execution_options(**UNSCOPED)).scalar()


def validate_definition(data: dict, existing: CustomFieldDefinition | None = None,
                        session=None):
    """``(clean, errors)`` for a definition's attributes, every problem at once.

    ``data`` holds model attribute names plus ``default_text`` (the default as typed); ``clean``
    holds model attribute values ready to set (``default_value`` in storage form).
    """
    session = _session(session)
    errors: dict = {}
    clean = {name: data.get(name) for name in (
        "entity", "key", "label_zh", "label_en", "help_text", "section", "position",
        "field_type", "required", "min_value", "max_value", "max_length", "regex",
        "regex_message", "unique", "sensitive", "reviewed", "choices", "visible_roles",
        "editable_roles", "value_roles") if name in data}
    for name in ("key", "label_zh", "label_en", "help_text", "section", "min_value",
                 "max_value", "regex", "regex_message"):
        if isinstance(clean.get(name), str):
            clean[name] = clean[name].strip() or None
    for name in ("required", "unique", "sensitive", "reviewed"):
        if name in clean:
            clean[name] = bool(clean[name])
    entity = clean.get("entity") or (existing.entity if existing is not None else None)
    field_type = clean.get("field_type") or (existing.field_type if existing else None)
    key = clean.get("key") or (existing.key if existing else None)

    if entity not in ENTITIES:
        errors["entity"] = _l("Choose the kind of record the field belongs to.")
    elif existing is not None and entity != existing.entity:
        errors["entity"] = _l("A field cannot move to another kind of record.")
    if field_type not in FIELD_TYPES:
        errors["field_type"] = _l("Choose a field type.")
    if not key or not KEY_RE.match(key):
        errors["key"] = _l("The key must start with a lowercase letter and hold only lowercase "
                           "letters, digits and underscores (at most 63).")
    elif entity in ENTITIES and key in builtin_columns(entity):
        errors["key"] = _l("The key %(key)s is already a built-in field.", key=key)
    elif entity in ENTITIES:
        clash = select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.entity == entity, CustomFieldDefinition.key == key)
        if existing is not None:
            clash = clash.where(CustomFieldDefinition.id != existing.id)
        if session.execute(clash).first() is not None:
            errors["key"] = _l("Another field of this kind of record already uses the key "
                               "%(key)s (archived fields keep their key).", key=key)
    if existing is not None and key != existing.key and values_count(spec_of(existing),
                                                                      session):
        errors["key"] = _l("The key cannot change: records already hold values of this field.")
    for name in ("label_zh", "label_en"):
        if not clean.get(name) and not (existing is not None and name not in data):
            errors[name] = _l("A label is required.")
    if errors.get("field_type"):
        return clean, errors

    choices, choice_error = _clean_choices(clean.get("choices") or [], field_type)
    clean["choices"] = choices
    if choice_error:
        errors["choices"] = choice_error
    for name in ("visible_roles", "editable_roles"):
        roles, role_error = _clean_roles(clean.get(name))
        clean[name] = roles
        if role_error:
            errors[name] = role_error
    if "value_roles" in clean or existing is not None:
        from backoffice.fields.value_roles import clean_roles as clean_value_roles

        marks = clean.get("value_roles") if "value_roles" in clean else \
            (existing.value_roles or [])
        sensitive = bool(clean.get("sensitive", existing.sensitive if existing else False))
        visible = clean.get("visible_roles") if "visible_roles" in clean else \
            (existing.visible_roles if existing is not None else [])
        marks, marks_error = clean_value_roles(marks, entity=entity, field_type=field_type,
                                               sensitive=sensitive, visible_roles=visible)
        clean["value_roles"] = marks
        if marks_error:
            errors["value_roles"] = marks_error

    probe = FieldSpec(id=None, entity=entity if entity in ENTITIES else "customer",
                      key=key or "field", type=field_type,
                      label_zh=clean.get("label_zh") or key or "",
                      label_en=clean.get("label_en") or key or "", choices=_spec_choices(choices),
                      sensitive=bool(clean.get("sensitive")))
    if field_type in RANGE_TYPES:
        for name in ("min_value", "max_value"):
            if clean.get(name) and v.bound(probe, clean[name]) is None:
                errors[name] = _l("This bound is not a valid value of the field type.")
            elif clean.get(name):
                clean[name] = v.as_raw(probe, v.bound(probe, clean[name])) \
                    if field_type != "integer" else str(v.bound(probe, clean[name]))
        low, high = (v.bound(probe, clean.get("min_value")),
                     v.bound(probe, clean.get("max_value")))
        if low is not None and high is not None and low > high:
            errors["max_value"] = _l("The maximum is below the minimum.")
    else:
        for name in ("min_value", "max_value"):
            if clean.get(name):
                errors[name] = _l("Only numbers, amounts, dates and times have a range.")
    if field_type in v.STRING_TYPES:
        if clean.get("regex"):
            try:
                re.compile(clean["regex"])
            except re.error as problem:
                errors["regex"] = _l("The pattern is not a valid regular expression: "
                                     "%(problem)s", problem=str(problem))
    else:
        if clean.get("max_length"):
            errors["max_length"] = _l("Only text fields have a maximum length.")
        if clean.get("regex"):
            errors["regex"] = _l("Only text fields have a pattern.")
    if clean.get("unique") and clean.get("sensitive"):
        errors["unique"] = _l("A sensitive field is stored encrypted and cannot be unique.")
    if clean.get("unique") and field_type in ("boolean", "multi_choice", "long_text"):
        errors["unique"] = _l("This field type cannot be unique.")

    if "default_text" in data:
        clean["default_value"] = None
        if not v.is_empty(data.get("default_text")) and not errors:
            rules = replace(probe, **{"min_value": clean.get("min_value"),
                                 "max_value": clean.get("max_value"),
                                 "max_length": clean.get("max_length"),
                                 "regex": clean.get("regex"),
                                 "regex_message": clean.get("regex_message"),
                                 "sensitive": False})
            typed, message = v.validate_value(rules, data["default_text"])
            if message:
                errors["default_text"] = message
            else:
                clean["default_value"] = v.plain_storage(rules, typed)
        if clean.get("default_value") is not None and clean.get("sensitive"):
            errors["default_text"] = _l("A sensitive field cannot have a default.")

    if existing is not None and not errors:
        old = spec_of(existing)
        new = spec_of(existing, type=field_type, choices=_spec_choices(choices),
                      sensitive=bool(clean.get("sensitive", existing.sensitive)))
        if changes.needs_conversion(old, new):
            report = changes.plan(old, new, session)
            if not report.ok:
                errors.update(changes.ChangeRefused(
                    report, "choices" if old.type == new.type else "field_type").errors)
        if clean.get("unique") and not existing.unique and duplicates(old, session):
            errors["unique"] = _l("%(count)s values are held by more than one record: make them "
                                  "distinct first.", count=duplicates(old, session))
    return clean, errors


def _spec_choices(choices):
    from backoffice.fields.registry import Choice

    return tuple(sorted((Choice(c["value"], c["label_zh"], c["label_en"], c["order"])
                         for c in choices), key=lambda c: (c.order, c.value)))


def _clean_choices(raw, field_type):
    """Choices as ``[{"value", "label_zh", "label_en", "order"}]``, checked."""
    if field_type not in CHOICE_TYPES:
        return [], (_l("Only choice fields have choices.") if raw else None)
    if not isinstance(raw, list) or not raw:
        return [], _l("A choice field needs at least one choice.")
    seen, out = set(), []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            return [], _l("Each choice needs a value and labels.")
        value = str(item.get("value") or "").strip()
        if not CHOICE_VALUE_RE.match(value):
            return [], _l("Choice %(n)s: the value must be 1-64 characters without commas or "
                          "vertical bars.", n=index + 1)
        if value in seen:
            return [], _l("Choice value %(value)s appears twice.", value=value)
        seen.add(value)
        label_zh = str(item.get("label_zh") or "").strip() or value
        label_en = str(item.get("label_en") or "").strip() or label_zh
        try:
            order = int(item.get("order", index + 1))
        except (TypeError, ValueError):
            return [], _l("Choice %(n)s: the order must be a whole number.", n=index + 1)
        out.append({"value": value, "label_zh": label_zh, "label_en": label_en, "order": order})
    return out, None


def _clean_roles(raw):
    from config.roles import ROLES

    roles = [str(r) for r in (raw or [])]
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        return [r for r in roles if r in ROLES], _l("Unknown roles: %(roles)s",
                                                     roles=", ".join(unknown))
    return sorted(set(roles), key=list(ROLES).index), None


def save(definition: CustomFieldDefinition, clean: dict, old: FieldSpec | None = None,
         session=None) -> None:
    """Apply checked attributes to a definition, converting stored values first if the type,
    choices or sensitivity changed; ``old`` is the spec before the edit (the form has already
    written the new attributes onto ``definition``). In the session's transaction: the caller
    commits, so the values and the definition change together."""
    session = _session(session)
    if old is not None:
        new = replace(old, type=clean.get("field_type", old.type),
                      choices=_spec_choices(clean.get("choices", [])),
                      sensitive=bool(clean.get("sensitive", old.sensitive)))
        if changes.needs_conversion(old, new):
            changes.convert(old, new, session)
    for name, value in clean.items():
        setattr(definition, name, value)


def archive(definition: CustomFieldDefinition) -> None:
    """Hide the field everywhere; its stored values stay untouched."""
    definition.status = "archived"


def restore(definition: CustomFieldDefinition) -> None:
    definition.status = "active"


# --- uniqueness in the database (PostgreSQL) ----------------------------------------------------


def unique_index_name(spec: FieldSpec) -> str:
    return f"ux_cf_{spec.table}_{spec.key}"[:63]


def sync_unique_index(spec: FieldSpec, session=None) -> bool:
    """Create or drop the field's unique expression index (PostgreSQL only; True if DDL ran).

    The application check in ``values.validate_record`` runs on every database; the index closes
    the race between two writers on PostgreSQL. SQLite relies on the check alone.
    """
    session = _session(session)
    if session.get_bind().dialect.name != "postgresql" or entity_model(spec.entity) is None:
        return False
    name = unique_index_name(spec)
    if spec.unique and not spec.sensitive:
        key = spec.key.replace("'", "''")
        session.execute(text(
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}" ON "{spec.table}" '
            f"(({STORAGE_COLUMN} ->> '{key}')) WHERE ({STORAGE_COLUMN} ->> '{key}') IS NOT NULL"))
    else:
        session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    return True


# --- range filters in the database (PostgreSQL) -------------------------------------------------


def range_index_name(spec: FieldSpec, field_type: str | None = None) -> str:
    """``ix_cf_<table>_<key>_<type>``: the type is in the name, so that a field whose type
    changes gets an index of its new expression (and the old one is found to be dropped)."""
    import hashlib

    field_type = field_type or spec.type
    name = f"ix_cf_{spec.table}_{spec.key}"
    room = 63 - len(field_type) - 1
    if len(name) > room:  # keep it unique among long keys sharing a prefix
        digest = hashlib.sha1(spec.key.encode()).hexdigest()[:8]
        name = f"{name[:room - 9]}_{digest}"
    return f"{name}_{field_type}"


def wants_range_index(spec: FieldSpec) -> bool:
    """An active, searchable field with a range is filtered by ranges: index its typed value.
    (A sensitive field is sealed and never compared; an archived one is filtered nowhere.)"""
    return spec.active and spec.type in RANGE_TYPES and not spec.sensitive


def sync_range_index(spec: FieldSpec, session=None) -> bool:
    """Create the field's range index if it should have one, drop any it should not have
    (PostgreSQL only; True if DDL ran). Idempotent: call it after every save, archive, restore
    or type change of a definition.

    The index is built from ``filters.range_element``, compiled with its constants in the SQL,
    which is the expression a range filter on the field compiles to: the planner can use it.
    """
    session = _session(session)
    bind = session.get_bind()
    model = entity_model(spec.entity)
    if bind.dialect.name != "postgresql" or model is None:
        return False
    wanted = range_index_name(spec) if wants_range_index(spec) else None
    for field_type in RANGE_TYPES:
        name = range_index_name(spec, field_type)
        if name != wanted:
            session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    if wanted is not None:
        expression = range_element(spec, model).compile(
            dialect=bind.dialect, compile_kwargs={"literal_binds": True})
        try:
            with session.begin_nested():  # a failure leaves the caller's transaction usable
                session.execute(text(f'CREATE INDEX IF NOT EXISTS "{wanted}" ON '
                                     f'"{spec.table}" (({expression}))'))
        except SQLAlchemyError:
            # Filters work without it (slower); the next save of the definition tries again.
            log.exception("could not create the range index %s", wanted)
    return True


def sync_indexes(spec: FieldSpec, session=None) -> bool:
    """The field's unique and range indexes as its definition now asks (True if DDL ran)."""
    unique = sync_unique_index(spec, session)
    ranged = sync_range_index(spec, session)
    return unique or ranged
