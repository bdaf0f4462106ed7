"""Segment rules as plain data: validation, compilation to one SQL condition, and evaluation.

A rule is JSON data, built by the rule builder screen (never typed by users)::

    {"op": "and", "items": [
        {"field": "metric.aum", "op": "gte", "value": "500000"},
        {"op": "or", "items": [
            {"field": "customer.customer_type", "op": "eq", "value": "corporate"},
            {"field": "custom.industry", "op": "any_of", "value": ["retail", "it"]}]}]}

Fields are named ``customer.<column>``, ``metric.<key>`` (``backoffice.segments.metrics``) or
``custom.<key>`` (a custom field, compiled by ``backoffice.fields.filters``). An empty ``and``
group matches everyone (the "mass" catch-all tier), an empty ``or`` group no one.

:func:`compile_rule` turns a rule into ONE SQL boolean over the ``customer`` row, on SQLite and
PostgreSQL alike; :func:`evaluate` applies the same rule to a dict of plain values, with the
same semantics (a missing value never matches, as NULL never does in SQL). Nothing here needs an
app: the field descriptions come in as data (``backoffice.segments.catalog`` builds them).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import and_, false, not_, or_, true

from models.validators import ordinary_number

GROUP_OPS = ("and", "or")
NUMBER_TYPES = ("integer", "decimal", "money")
OPERATORS = {
    "integer": ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
    "decimal": ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
    "money": ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
    "date": ("eq", "ne", "gt", "gte", "lt", "lte", "between"),
    "text": ("eq", "ne", "contains"),
    "choice": ("eq", "ne", "in", "not_in"),
    "boolean": ("eq",),
}
MAX_DEPTH = 4
MAX_CONDITIONS = 50


class RuleError(ValueError):
    """The rule is not valid; ``errors`` lists every problem with where it is."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True)
class RuleField:
    """One field a rule may test, as the compiler and the evaluator see it.

    ``sql`` builds the SQL value for a customer row (``(today, dialect) -> expression``) and is
    replaced per use (``metric_source``) for metrics; ``kind`` is ``column``, ``metric`` or
    ``custom``; ``date_unit`` (``days``/``years``) marks metrics counted from a date.
    """

    key: str
    label: str
    type: str
    kind: str = "column"
    choices: tuple = ()  # ((value, label), ...)
    operators: tuple = ()
    sql: Callable | None = None
    date_unit: str | None = None
    metric: object = None
    spec: object = None  # custom fields: the FieldSpec
    # Reads the deep profile: counts over it leave out customers whose deep profile the
    # viewer may not see (``backoffice.segments.guard``).
    deep: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def ops(self) -> tuple:
        return self.operators or OPERATORS.get(self.type, ())


# --- validation -----------------------------------------------------------------------------


def validate(rule, fields: dict[str, RuleField]) -> dict:
    """The rule with typed operands, or ``RuleError`` listing every problem (path: message)."""
    errors: list[str] = []
    count = [0]
    clean = _validate_group(rule, fields, "rule", 1, errors, count)
    if count[0] > MAX_CONDITIONS:
        errors.append(f"rule: at most {MAX_CONDITIONS} conditions")
    if errors:
        raise RuleError(errors)
    return clean


def _validate_group(group, fields, path, depth, errors, count):
    if not isinstance(group, dict) or group.get("op") not in GROUP_OPS:
        errors.append(f"{path}: a group needs op 'and' or 'or'")
        return {"op": "and", "items": []}
    if depth > MAX_DEPTH:
        errors.append(f"{path}: groups nest at most {MAX_DEPTH} deep")
    items = group.get("items", [])
    if not isinstance(items, list):
        errors.append(f"{path}: items must be a list")
        items = []
    clean = []
    for index, item in enumerate(items):
        where = f"{path}.{index + 1}"
        if isinstance(item, dict) and "items" in item:
            clean.append(_validate_group(item, fields, where, depth + 1, errors, count))
        else:
            count[0] += 1
            condition = _validate_condition(item, fields, where, errors)
            if condition is not None:
                clean.append(condition)
    return {"op": group["op"], "items": clean}


def _validate_condition(item, fields, path, errors):
    if not isinstance(item, dict):
        errors.append(f"{path}: a condition needs field, op and value")
        return None
    spec = fields.get(item.get("field"))
    if spec is None:
        errors.append(f"{path}: unknown field {item.get('field')!r}")
        return None
    op = item.get("op")
    if op not in spec.ops():
        errors.append(f"{path}: {spec.label} does not offer {op!r}")
        return None
    try:
        value = typed_operand(spec, op, item.get("value"))
    except ValueError as exc:
        errors.append(f"{path}: {spec.label}: {exc}")
        return None
    return {"field": spec.key, "op": op, "value": value}


def typed_operand(spec: RuleField, op: str, raw):
    """The operand in the field's type (JSON-safe: decimals and dates as text)."""
    if spec.kind == "custom":
        from backoffice.fields.filters import FilterError, _typed

        try:
            if op == "between":
                low, high = _pair(raw)
                [_typed(spec.spec, v) for v in (low, high) if v not in (None, "")]
                return [low, high]
            if op == "any_of":
                values = raw if isinstance(raw, list) else [raw]
                [_typed(spec.spec, [v] if spec.type == "multi_choice" else v) for v in values]
                return values
            if op != "contains" and spec.type != "multi_choice":
                _typed(spec.spec, raw)
        except FilterError as exc:
            raise ValueError(str(exc)) from None
        if op == "contains" and not str(raw or "").strip():
            raise ValueError("contains needs some text")
        return raw
    if op == "between":
        low, high = _pair(raw)
        return [_scalar(spec, low), _scalar(spec, high)]
    if op in ("in", "not_in"):
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise ValueError("choose at least one value")
        return [_scalar(spec, v) for v in values]
    return _scalar(spec, raw)


def _pair(raw):
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise ValueError("a range needs a lower and an upper bound")
    return raw[0], raw[1]


def _scalar(spec: RuleField, raw):
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValueError("a value is required")
    if spec.type == "integer" or spec.date_unit:
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError("must be a whole number") from None
        if not ordinary_number(number) or number != number.to_integral_value():
            raise ValueError("must be a whole number")
        return int(number)
    if spec.type in ("decimal", "money"):
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError("must be a number") from None
        if not ordinary_number(number):
            raise ValueError("must be a number")
        return str(number)
    if spec.type == "date":
        try:
            return dt.date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD)") from None
    if spec.type == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError("must be yes or no")
    if spec.type == "choice":
        value = str(raw)
        if spec.choices and value not in {str(v) for v, _ in spec.choices}:
            raise ValueError(f"{value!r} is not one of the choices")
        return value
    return str(raw).strip()


def fields_used(rule) -> set[str]:
    """Every field key a (validated) rule tests."""
    used: set[str] = set()
    for item in (rule or {}).get("items", []):
        if "items" in item:
            used |= fields_used(item)
        else:
            used.add(item["field"])
    return used


def conditions_of(rule):
    """Every condition of a rule, flattened (for evidence)."""
    for item in (rule or {}).get("items", []):
        if "items" in item:
            yield from conditions_of(item)
        else:
            yield item


# --- compilation ----------------------------------------------------------------------------


def compile_rule(rule, fields: dict[str, RuleField], *, today: dt.date, dialect: str,
                 model=None, metric_source: Callable | None = None):
    """One SQL boolean over the customer row for a validated rule.

    ``metric_source(field, today, dialect)`` gives the SQL value of a metric; by default the
    metric's correlated form. The nightly refresh passes the columns of its precomputed table.
    """
    clean = validate(rule, fields)
    context = _Context(fields, today, dialect, model, metric_source)
    return context.group(clean)


@dataclass
class _Context:
    fields: dict
    today: dt.date
    dialect: str
    model: object
    metric_source: Callable | None

    def group(self, group):
        parts = [self.group(item) if "items" in item else self.condition(item)
                 for item in group["items"]]
        if not parts:
            return true() if group["op"] == "and" else false()
        return and_(*parts) if group["op"] == "and" else or_(*parts)

    def condition(self, item):
        spec = self.fields[item["field"]]
        op, value = item["op"], item["value"]
        if spec.kind == "custom":
            from backoffice.fields.filters import compile_filter

            return compile_filter(spec.spec, op, value, model=self.model, dialect=self.dialect)
        expr = self.value_of(spec)
        if spec.date_unit:
            return _date_condition(expr, spec.date_unit, op, value, self.today)
        return _compare(expr, op, _sql_operand(spec, value))

    def value_of(self, spec):
        if spec.kind == "metric" and self.metric_source is not None:
            return self.metric_source(spec, self.today, self.dialect)
        return spec.sql(self.today, self.dialect)


def _sql_operand(spec: RuleField, value):
    if isinstance(value, list):
        return [_sql_operand(spec, v) for v in value]
    if spec.type in ("decimal", "money"):
        return Decimal(value)
    if spec.type == "date":
        return dt.date.fromisoformat(value)
    return value


def _compare(expr, op, operand):
    if op == "eq":
        return expr == operand
    if op == "ne":
        return expr != operand
    if op == "gt":
        return expr > operand
    if op == "gte":
        return expr >= operand
    if op == "lt":
        return expr < operand
    if op == "lte":
        return expr <= operand
    if op == "between":
        return and_(expr >= operand[0], expr <= operand[1])
    if op == "in":
        return expr.in_(operand)
    if op == "not_in":
        return expr.not_in(operand)
    if op == "contains":
        return expr.icontains(operand, autoescape=True)
    raise ValueError(op)


def years_before(day: dt.date, years: int) -> dt.date:
    """``day`` moved back ``years`` years (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _date_condition(expr, unit: str, op: str, value, today: dt.date):
    """A whole-units-since-date metric compared with N, as bounds on the date itself.

    ``units(D) >= N`` ⇔ D on or before the day N units before today; ``units(D) <= N`` ⇔ D after
    the day N+1 units before today. Times (the last interaction) compare by their day.
    """
    def at_least(n):
        bound = today - dt.timedelta(days=n) if unit == "days" else years_before(today, n)
        return _on_or_before(expr, bound, unit)

    def at_most(n):
        bound = (today - dt.timedelta(days=n + 1) if unit == "days"
                 else years_before(today, n + 1))
        return not_(_on_or_before(expr, bound, unit))

    if op == "between":
        return and_(at_least(value[0]), at_most(value[1]))
    n = int(value)
    conditions = {"gte": lambda: at_least(n), "gt": lambda: at_least(n + 1),
                  "lte": lambda: at_most(n), "lt": lambda: at_most(n - 1),
                  "eq": lambda: and_(at_least(n), at_most(n)),
                  "ne": lambda: not_(and_(at_least(n), at_most(n)))}
    return conditions[op]()


def _on_or_before(expr, day: dt.date, unit: str):
    if unit == "days":  # a time column (last interaction): before the next midnight
        return expr < dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return expr <= day


# --- evaluation in Python (same semantics) --------------------------------------------------


def evaluate(rule, values: dict, fields: dict[str, RuleField]) -> bool:
    """Whether one customer's plain ``values`` (field key -> value) satisfy a validated rule.

    Metric values counted from a date are given as the number of units already (age 57).
    """
    items = rule.get("items", [])
    results = (evaluate(item, values, fields) if "items" in item
               else _holds(fields[item["field"]], item["op"], item["value"],
                           values.get(item["field"]))
               for item in items)
    return all(results) if rule["op"] == "and" else any(results)


def _holds(spec: RuleField, op: str, operand, value) -> bool:
    if value is None:
        return False
    if spec.type == "multi_choice":
        wanted = {operand} if op == "eq" else set(operand)
        return bool(wanted & set(value))
    if op == "any_of":
        return str(value) in {str(v) for v in operand}
    if spec.kind == "custom" and op == "between":
        low, high = operand
        return ((low in (None, "") or _py(spec, value) >= _py(spec, low))
                and (high in (None, "") or _py(spec, value) <= _py(spec, high)))
    if op == "contains":
        return str(operand).lower() in str(value).lower()
    if spec.kind == "custom":
        value, operand = _py(spec, value), _py(spec, operand)
    elif not spec.date_unit:
        operand = _sql_operand(spec, operand)
    if op == "between":
        return operand[0] <= value <= operand[1]
    if op == "in":
        return value in operand
    if op == "not_in":
        return value not in operand
    return {"eq": value == operand, "ne": value != operand, "gt": value > operand,
            "gte": value >= operand, "lt": value < operand, "lte": value <= operand}[op]


def _py(spec: RuleField, raw):
    """A custom field's value or operand in a comparable Python type."""
    if raw is None:
        return None
    if spec.type in ("decimal", "money"):
        return Decimal(str(raw))
    if spec.type == "integer":
        return int(raw)
    if spec.type == "boolean":
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    return str(raw)
