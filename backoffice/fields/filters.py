"""Filters on custom fields, compiled to SQL over the JSON column (SQLite and PostgreSQL).

Rows are never loaded to be filtered in Python: a list of 100,000 customers filtered by a custom
field must cost one query. Values are stored typed (see ``values``), so each type reads its
element the matching way: integers as numbers, decimals and money cast from their decimal text,
dates and times compared as ISO text (which orders like the values), booleans as booleans.

Operators: ``eq`` for every type (on a multiple choice: "has this value"); ``gt``, ``gte``,
``lt``, ``lte`` and ``between`` for numbers, money, dates and times; ``contains`` for text;
``any_of`` for single and multiple choices. Sensitive fields are stored sealed and cannot be
searched (as with the built-in encrypted fields, nothing runs a comparison over ciphertext).

On PostgreSQL the value of a field with a range (numbers, money, dates, times) is read by
:func:`range_element`, an IMMUTABLE expression with the key and every constant written into the
SQL (no bind parameter): ``service.sync_range_index`` builds the field's expression index from
the very same expression, so the planner matches a range filter to the index. Dates and times
are compared as their canonical ISO text under the "C" collation: fixed-width ISO-8601 sorts
bytewise exactly as the values do, and the expression is immutable (``::date`` on text is only
STABLE: it depends on DateStyle) and cannot fail. Numbers are cast to NUMERIC behind a pattern
guard: an index expression is evaluated on every row version it indexes, including versions
left by a conversion from text that older transactions may still see ("1,200" before it became
1200), and an unguarded cast would fail the index build there, or any write of a stray value.
"""
from __future__ import annotations

from dataclasses import replace

from sqlalchemy import (
    Boolean,
    Numeric,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY

from backoffice.fields import values as v
from backoffice.fields.registry import (
    CHOICE_TYPES,
    RANGE_TYPES,
    STORAGE_COLUMN,
    TEXT_TYPES,
    FieldSpec,
    entity_model,
)
from models.crypto import UnsearchableField

RANGE_OPS = ("gt", "gte", "lt", "lte", "between")
OPERATORS = ("eq", "contains", "any_of") + RANGE_OPS


class FilterError(ValueError):
    """The filter does not fit the field (operator not offered, value of the wrong type)."""


def operators_for(spec: FieldSpec) -> tuple[str, ...]:
    """The operators a field offers, in the order a filter menu lists them."""
    if spec.sensitive:
        return ()
    ops = ["eq"]
    if spec.type in RANGE_TYPES:
        ops += list(RANGE_OPS)
    if spec.type in TEXT_TYPES:
        ops.append("contains")
    if spec.type in CHOICE_TYPES:
        ops.append("any_of")
    return tuple(ops)


def _dialect(session, dialect):
    if dialect is not None:
        return dialect if isinstance(dialect, str) else dialect.name
    if session is None:
        from backoffice.extensions import db

        session = db.session
    return session.get_bind().dialect.name


def element(spec: FieldSpec, model, dialect_name: str):
    """The SQL expression of the field's value in one row, typed for comparisons."""
    document = getattr(model, STORAGE_COLUMN)
    if dialect_name == "postgresql":
        if spec.type in RANGE_TYPES:
            return range_element(spec, model)
        if spec.type != "boolean":
            return stored_text(spec, model)  # what the unique expression index holds
    item = document[spec.key]
    if spec.type == "integer":
        return item.as_integer()
    if spec.type == "money":
        return cast(item.as_string(), Numeric(18, 2))
    if spec.type == "decimal":
        return cast(item.as_string(), Numeric(38, 10))
    if spec.type == "boolean":
        return item.as_boolean()
    return item.as_string()


# --- PostgreSQL: IMMUTABLE readings (the expressions the range indexes are built on) -----------


def _sql_text(value: str):
    """A string constant written into the SQL itself (never a bind parameter)."""
    return literal_column("'" + value.replace("'", "''") + "'", Text)


def stored_text(spec: FieldSpec, model):
    """``custom_fields ->> '<key>'`` with the key in the SQL: the text the row stores."""
    document = getattr(model, STORAGE_COLUMN)
    return document.op("->>", return_type=Text)(_sql_text(spec.key))


_NUMBER_PATTERNS = {"integer": r"^-?[0-9]+$", "decimal": r"^-?[0-9]+(\.[0-9]+)?$",
                    "money": r"^-?[0-9]+(\.[0-9]+)?$"}


def range_element(spec: FieldSpec, model):
    """The comparable value of a range field on PostgreSQL: NUMERIC for numbers and money (NULL
    for text that is not a plain decimal number), the ISO text under the "C" collation for
    dates and times (compared with ISO operands)."""
    text = stored_text(spec, model)
    if spec.type in ("date", "datetime"):
        return text.collate("C")
    fits = text.op("~", return_type=Boolean)(_sql_text(_NUMBER_PATTERNS[spec.type]))
    return type_coerce(case((fits, cast(text, Numeric()))), Numeric())


def _typed(spec: FieldSpec, raw):
    """A filter operand in the field's type (raises FilterError with the field's message)."""
    probe = replace(spec, required=False, min_value=None, max_value=None, max_length=None,
                    regex=None)
    typed, message = v.validate_value(probe, raw)
    if message:
        raise FilterError(str(message))
    return typed


def _operand(spec: FieldSpec, typed):
    """The value to compare an element with: what storage holds (numbers as Decimal/int, dates
    and times as their ISO text)."""
    if spec.type in ("decimal", "money", "integer", "boolean"):
        return typed
    return v.plain_storage(spec, typed)


def compile_filter(spec: FieldSpec, op: str, value, *, model=None, session=None, dialect=None):
    """A SQL condition on ``model`` (default: the entity's model) for one custom-field filter."""
    if spec.sensitive:
        raise UnsearchableField(f"{spec.storage_path} is sensitive: stored encrypted, it "
                                "cannot be filtered")
    if op not in operators_for(spec):
        raise FilterError(f"{spec.storage_path} ({spec.type}) does not offer the {op!r} filter")
    model = model or entity_model(spec.entity)
    if model is None:
        raise FilterError(f"{spec.entity} records have no custom-field storage yet")
    name = _dialect(session, dialect)
    if op == "between":
        low, high = value
        parts = []
        if not v.is_empty(low):
            parts.append(compile_filter(spec, "gte", low, model=model, dialect=name))
        if not v.is_empty(high):
            parts.append(compile_filter(spec, "lte", high, model=model, dialect=name))
        if not parts:
            raise FilterError("a range needs at least one bound")
        return and_(*parts)
    if spec.type == "multi_choice" and op in ("eq", "any_of"):
        wanted = [value] if op == "eq" else list(value or [])
        return _has_any(spec, model, [_typed(spec, [w])[0] for w in wanted if not v.is_empty(w)],
                        name)
    if op == "any_of":
        wanted = [_typed(spec, w) for w in (value or []) if not v.is_empty(w)]
        if not wanted:
            return false()
        return element(spec, model, name).in_(wanted)
    expr = element(spec, model, name)
    if op == "contains":
        text = str(value or "").strip()
        if not text:
            raise FilterError("contains needs some text")
        return expr.icontains(text, autoescape=True)
    operand = _operand(spec, _typed(spec, value))
    if spec.type == "boolean" and name == "sqlite":
        operand = 1 if operand else 0  # JSON_EXTRACT gives 1/0 for true/false
    if op == "eq":
        return expr == operand
    return {"gt": expr > operand, "gte": expr >= operand, "lt": expr < operand,
            "lte": expr <= operand}[op]


def _has_any(spec: FieldSpec, model, wanted: list[str], dialect_name: str):
    """The stored list of a multiple choice holds at least one of ``wanted``."""
    if not wanted:
        return false()
    document = getattr(model, STORAGE_COLUMN)
    if dialect_name == "postgresql":
        return document.op("->")(literal(spec.key)).op("?|", return_type=Boolean)(
            literal(wanted, ARRAY(Text)))
    items = func.json_each(document, f'$."{spec.key}"').table_valued("value")
    return exists(select(literal(1)).select_from(items).where(items.c.value.in_(wanted)))


def compile_filters(entity: str, conditions, *, model=None, session=None, specs=None):
    """``conditions``: ``[{"field", "op", "value"}]`` on custom keys; one AND-ed condition."""
    from backoffice.fields.registry import catalog_by_key

    catalog = {s.key: s for s in specs} if specs is not None else catalog_by_key(
        entity, session=session)
    parts = []
    for condition in conditions:
        spec = catalog.get(condition.get("field"))
        if spec is None:
            raise FilterError(f"unknown field {condition.get('field')!r}")
        parts.append(compile_filter(spec, condition.get("op", "eq"), condition.get("value"),
                                    model=model, session=session))
    return and_(*parts) if parts else None
