"""A field set's default filters: which fields they may name, and how each compiles to SQL.

A stored filter is ``{"field", "op", "value"}``, as it always was. ``field`` names a custom
field's key (compiled by ``fields.filters`` over the JSON column) or, now, one of the record's
own columns as its screen labels it: a status or another coded column (its codes are those the
screen's ``choice_label`` formatter shows), a number, a date, a time, a yes/no, a text, or the
branch or product the record belongs to. Sensitive columns (stored encrypted) are never offered:
nothing compares ciphertext. Each :class:`Target` knows its kind, the operators that fit the
kind and, for choices, the codes and their labels: the picker (``filter_picker``) draws from it
and the list applies it (``listing.compile_conditions``). The user's right to read the column
is asked of the policy there, per request, like a custom field's.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask_babel import gettext
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, String, Text, and_, false
from sqlalchemy import inspect as sa_inspect

from backoffice.fields import filters as custom_filters
from backoffice.fields.registry import CHOICE_TYPES, NUMERIC_TYPES, FieldSpec, entity_model

KIND_OPS = {
    "text": ("eq", "contains"),
    "number": ("eq", "gt", "gte", "lt", "lte", "between"),
    "date": ("eq", "gt", "gte", "lt", "lte", "between"),
    "datetime": ("gt", "gte", "lt", "lte", "between"),
    "boolean": ("eq",),
    "choice": ("eq", "any_of"),
    "multi_choice": ("eq", "any_of"),
}
# The records a relation may be picked from by name (the branch, the product).
PICKED_RELATIONS = {"Branch": "name", "Product": "name"}


@dataclass(frozen=True)
class Target:
    """One field a default filter may name."""

    key: str  # what the stored filter's "field" holds
    label: str
    kind: str  # a key of KIND_OPS
    ops: tuple[str, ...]
    choices: tuple[tuple[str, str], ...] = ()  # (code, label) for choice kinds
    spec: FieldSpec | None = None  # a custom field
    column: str | None = None  # a built-in column (attribute name)
    relation: bool = False  # a branch or product picked by name (the column holds its id)

    def choice_label(self, code) -> str:
        return dict(self.choices).get(str(code), str(code))


def _custom_kind(spec: FieldSpec) -> str:
    if spec.type in NUMERIC_TYPES:
        return "number"
    if spec.type in ("date", "datetime", "boolean") or spec.type in CHOICE_TYPES:
        return spec.type
    return "text"


def custom_target(spec: FieldSpec) -> Target | None:
    ops = custom_filters.operators_for(spec)
    if not ops:  # sensitive: sealed values do not compare
        return None
    kind = _custom_kind(spec)
    choices = ((("true", gettext("Yes")), ("false", gettext("No"))) if kind == "boolean"
               else tuple((c.value, c.label()) for c in spec.choices))
    return Target(key=spec.key, label=spec.label(), kind=kind, ops=ops, choices=choices,
                  spec=spec)


def _screen_codes(entity: str) -> dict:
    """Column -> {code: label} from the entity's screens' ``choice_label`` formatters."""
    from flask import current_app

    model = entity_model(entity)
    codes = {}
    for view in getattr(current_app.appbuilder, "baseviews", []):
        if getattr(getattr(view, "datamodel", None), "obj", None) is not model:
            continue
        for name, formatter in dict(getattr(view, "formatters_columns", None) or {}).items():
            mapping = getattr(formatter, "labels", None)
            if isinstance(mapping, dict):
                codes.setdefault(name, mapping)
    return codes


def _relation_choices(target_class) -> tuple[tuple[str, str], ...]:
    from sqlalchemy import select

    from backoffice.extensions import db

    name = getattr(target_class, PICKED_RELATIONS[target_class.__name__])
    rows = db.session.execute(select(target_class.id, name).order_by(name)).all()
    return tuple((str(row_id), str(label)) for row_id, label in rows)


def _builtin_target(model, name: str, label: str, codes: dict,
                    with_choices: bool = True) -> Target | None:
    mapper = sa_inspect(model)
    relation = mapper.relationships.get(name) if name in mapper.relationships else None
    if relation is not None:
        target_class = relation.mapper.class_
        if target_class.__name__ not in PICKED_RELATIONS or len(relation.local_columns) != 1:
            return None
        column = next(iter(relation.local_columns)).key
        choices = _relation_choices(target_class) if with_choices else ()
        return Target(key=column, label=label, kind="choice", ops=KIND_OPS["choice"],
                      choices=choices, column=column, relation=True)
    column = model.__table__.columns.get(name)
    if column is None:  # a property over ciphertext: sensitive, never filtered
        return None
    kind = None
    if isinstance(column.type, Boolean):
        kind = "boolean"
    elif isinstance(column.type, (Integer, Numeric, Float)):
        kind = "number"
    elif isinstance(column.type, DateTime):
        kind = "datetime"
    elif isinstance(column.type, Date):
        kind = "date"
    elif isinstance(column.type, (String, Text)):
        kind = "choice" if name in codes else "text"
    if kind is None:
        return None
    choices = ()
    if kind == "choice":
        choices = tuple((str(code), str(text)) for code, text in codes[name].items())
    elif kind == "boolean":
        choices = (("true", gettext("Yes")), ("false", gettext("No")))
    return Target(key=name, label=label, kind=kind, ops=KIND_OPS[kind], choices=choices,
                  column=name)


def builtin_targets(entity: str, with_choices: bool = True) -> list[Target]:
    """The record's own columns a default filter may name, by their screen labels. Applying a
    filter needs no list of branches or products (``with_choices=False``): their ids are
    compared as they are."""
    from backoffice.fields.columns import column_options
    from models import crypto

    model = entity_model(entity)
    if model is None:
        return []
    sensitive = set(crypto.SENSITIVE_FIELDS.get(model.__tablename__, ()))
    codes = _screen_codes(entity)
    targets = []
    for name, label in column_options(entity, specs=[]):
        if name in sensitive:
            continue
        target = _builtin_target(model, name, label, codes, with_choices)
        if target is not None:
            targets.append(target)
    return targets


def targets(entity: str, specs=None) -> list[Target]:
    """Built-in columns then custom fields (``specs``: those offered; all active by default)."""
    from backoffice.fields.registry import field_catalog

    custom = specs if specs is not None else field_catalog(entity)
    found = builtin_targets(entity)
    taken = {t.key for t in found}
    found += [t for t in (custom_target(spec) for spec in custom)
              if t is not None and t.key not in taken]
    return found


# --- values and SQL --------------------------------------------------------------------------


def _number(raw):
    try:
        return Decimal(str(raw).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise custom_filters.FilterError(gettext("%(value)s is not a number.",
                                                 value=raw)) from None


def _date(raw):
    try:
        return dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        raise custom_filters.FilterError(gettext("%(value)s is not a date: pick a day, or "
                                                 "write YYYY-MM-DD.", value=raw)) from None


def _moment(raw):
    try:
        return dt.datetime.fromisoformat(str(raw).strip())
    except ValueError:
        raise custom_filters.FilterError(gettext(
            "%(value)s is not a date and time: pick a day and a time, or write YYYY-MM-DD "
            "HH:MM.", value=raw)) from None


def typed(target: Target, raw):
    """A stored operand of a built-in column in the column's type."""
    if target.kind == "number":
        return _number(raw)
    if target.kind == "date":
        return _date(raw)
    if target.kind == "datetime":
        return _moment(raw)  # stored in UTC, like the column
    if target.kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "false"):
            return str(raw).lower() == "true"
        raise custom_filters.FilterError(gettext("Choose yes or no."))
    if target.kind == "choice":
        codes = [code for code, _label in target.choices]
        if (codes or not target.relation) and str(raw) not in codes:
            raise custom_filters.FilterError(gettext("%(value)s is not one of the choices.",
                                                     value=raw))
        if target.relation:
            try:
                return int(raw)
            except (TypeError, ValueError):
                raise custom_filters.FilterError(gettext(
                    "%(value)s is not one of the choices.", value=raw)) from None
        return str(raw)
    return str(raw)


def _empty(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def compile_builtin(target: Target, op: str, value, model):
    """The SQL condition of one filter on a built-in column."""
    if op not in target.ops:
        raise custom_filters.FilterError(gettext("%(field)s cannot be filtered that way.",
                                                 field=target.label))
    column = getattr(model, target.column)
    if op == "between":
        low, high = (list(value) + [None, None])[:2] if isinstance(value, list) else (value,
                                                                                       None)
        parts = [column >= typed(target, low)] if not _empty(low) else []
        parts += [column <= typed(target, high)] if not _empty(high) else []
        if not parts:
            raise custom_filters.FilterError(gettext("A range needs at least one bound."))
        return and_(*parts)
    if op == "any_of":
        wanted = [typed(target, item) for item in (value or []) if not _empty(item)]
        return column.in_(wanted) if wanted else false()
    if _empty(value):
        raise custom_filters.FilterError(gettext("%(field)s: choose a value.",
                                                 field=target.label))
    if op == "contains":
        return column.icontains(str(value).strip(), autoescape=True)
    operand = typed(target, value)
    return {"eq": column == operand, "gt": column > operand, "gte": column >= operand,
            "lt": column < operand, "lte": column <= operand}[op]


def compile_condition(entity: str, condition: dict, target: Target | None):
    """One stored filter as SQL; FilterError when it names nothing filterable or does not fit."""
    if target is None:
        raise custom_filters.FilterError(gettext("There is no field %(key)s to filter by.",
                                                 key=condition.get("field")))
    op = condition.get("op", "eq")
    if target.spec is not None:
        return custom_filters.compile_filter(target.spec, op, condition.get("value"))
    return compile_builtin(target, op, condition.get("value"), entity_model(entity))


def check_conditions(entity: str, conditions) -> str | None:
    """The first problem of a set's stored filters (None: they all compile)."""
    by_key = {t.key: t for t in targets(entity)}
    for condition in conditions or []:
        if not isinstance(condition, dict):
            return gettext("A filter is not readable.")
        try:
            compile_condition(entity, condition, by_key.get(condition.get("field")))
        except (custom_filters.FilterError, TypeError, ValueError) as problem:
            return str(problem)
    return None
