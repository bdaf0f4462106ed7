"""Rule compilation: every operator on every field type, SQL against a plain Python evaluation.

The same rule runs as one compiled SQL query over the seeded population and as ``evaluate`` over
values computed in plain Python from the same rows (``conftest._python_values``). Run the file on
SQLite (default) and on PostgreSQL (``CRM_TEST_DATABASE_URL``): both must agree with Python.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select

from backoffice.segments import rules as r
from backoffice.segments.catalog import rule_fields
from tests.segments.conftest import CUSTOM_SPECS, TODAY

FLOAT_BACKED = {"metric.avg_balance_3m", "metric.satisfaction_avg"}


def _fields(session):
    return rule_fields(session=session, custom_specs=CUSTOM_SPECS)


def _sql_matches(session, rule, fields, ids) -> set[int]:
    from models import Customer

    condition = r.compile_rule(rule, fields, today=TODAY,
                               dialect=session.get_bind().dialect.name)
    query = select(Customer.id).where(Customer.id.in_(ids), condition)
    return set(session.scalars(query.execution_options(crm_unscoped=True)))


def _python_matches(rule, fields, population) -> set[int]:
    clean = r.validate(rule, fields)
    return {pk for pk in population.ids
            if r.evaluate(clean, population.values[pk], fields)}


# Fields this population holds no values of, with the test that checks them against values
# computed by hand.
CHECKED_ELSEWHERE = {
    "metric.net_outflow_pct_30d": "tests/automation/test_example_rule.py (outflows of 30 days)",
}


def _observed(population, key):
    return [population.values[pk].get(key) for pk in population.ids
            if population.values[pk].get(key) is not None]


def _json(value):
    if isinstance(value, (dt.date, Decimal)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return value


def _operands(field, op, observed):
    """Operands that split the population: observed values (exact types) or midpoints."""
    if field.type == "multi_choice":
        return [["a"], ["b", "c"]] if op == "any_of" else ["a"]
    if field.type in ("choice",) or (field.kind == "column" and field.type == "choice"):
        common = [v for v, _ in Counter(map(str, observed)).most_common(2)]
        if op in ("in", "not_in", "any_of"):
            return [common]
        return common
    if field.type == "boolean":
        return [True, False]
    if field.type == "text":
        return ["alpha", "Teacher"] if op == "contains" else [str(observed[0])]
    distinct = sorted(set(observed))
    if not distinct:
        pytest.fail(f"no values observed for {field.key}")
    middle = distinct[len(distinct) // 2]
    exact = field.type in ("integer", "date") or field.date_unit or field.type == "datetime"
    if field.key in FLOAT_BACKED or field.type in ("decimal", "money"):
        if field.kind == "custom":
            exact = True  # stored as decimal text, cast to NUMERIC: exact
        else:
            exact = False
    if exact:
        low, high = distinct[len(distinct) // 4], distinct[(3 * len(distinct)) // 4]
        picks = [middle] if op != "between" else [[low, high]]
    else:
        above = [v for v in distinct if v > middle]
        half = ((Decimal(str(middle)) + Decimal(str(above[0] if above else middle + 1))) / 2
                ).quantize(Decimal("0.01"))
        quarter = Decimal(str(distinct[len(distinct) // 4])).quantize(Decimal("0.01"))
        zero = [Decimal(0)] if Decimal(0) in {Decimal(str(v)) for v in distinct} else []
        picks = ([[quarter - Decimal("0.01"), half]] if op == "between"
                 else [half] + (zero if op in ("eq", "ne") else []))
    return [[_json(v) for v in p] if isinstance(p, list) else _json(p) for p in picks]


def test_every_operator_on_every_field_matches_python(app, population, db_session):
    """Each (field, operator) pair selects exactly the customers Python selects."""
    fields = _fields(db_session)
    checked, nontrivial = 0, 0
    for field in fields.values():
        if field.key in CHECKED_ELSEWHERE:
            continue
        observed = _observed(population, field.key)
        for op in field.ops():
            for operand in _operands(field, op, observed):
                rule = {"op": "and", "items": [{"field": field.key, "op": op, "value": operand}]}
                expected = _python_matches(rule, fields, population)
                got = _sql_matches(db_session, rule, fields, population.ids)
                assert got == expected, (field.key, op, operand, sorted(got ^ expected))
                checked += 1
                nontrivial += 0 < len(expected) < len(population.ids)
    assert checked > 150
    assert nontrivial > checked * 0.6  # most comparisons split the population


def test_and_or_groups_nest(app, population, db_session):
    """Nested AND/OR groups combine as in Python; empty AND is everyone, empty OR no one."""
    fields = _fields(db_session)
    rule = {"op": "or", "items": [
        {"op": "and", "items": [
            {"field": "metric.aum", "op": "gte", "value": "50000"},
            {"field": "customer.customer_type", "op": "eq", "value": "individual"}]},
        {"op": "and", "items": [
            {"field": "metric.age", "op": "gte", "value": 55},
            {"field": "custom.rt_tags", "op": "any_of", "value": ["a"]},
            {"op": "or", "items": [
                {"field": "metric.tx_count_90d", "op": "gt", "value": 2},
                {"field": "customer.risk_tolerance", "op": "in", "value": ["C4", "C5"]}]}]}]}
    expected = _python_matches(rule, fields, population)
    assert 0 < len(expected) < len(population.ids)
    assert _sql_matches(db_session, rule, fields, population.ids) == expected
    everyone = {"op": "and", "items": []}
    assert _sql_matches(db_session, everyone, fields, population.ids) == set(population.ids)
    assert _sql_matches(db_session, {"op": "or", "items": []}, fields, population.ids) == set()


def test_age_boundary_is_exact(app, population, db_session):
    """A customer born exactly 55 years ago today is 55 (years-since metrics count whole
    years, as people do)."""
    fields = _fields(db_session)
    rule = {"op": "and", "items": [{"field": "metric.age", "op": "eq", "value": 55}]}
    first = population.ids[0]
    assert population.values[first]["metric.age"] == 55
    assert first in _sql_matches(db_session, rule, fields, population.ids)


def test_numbers_beyond_any_real_value_are_rule_errors(app, db_session):
    """1E1000000 is no age and no balance: a rule error, not an overflow in the planner or in
    Python's int()."""
    fields = _fields(db_session)
    rule = {"op": "and", "items": [
        {"field": "metric.age", "op": "gte", "value": "1E1000000"},
        {"field": "metric.aum", "op": "lt", "value": "-1e999999"}]}
    with pytest.raises(r.RuleError) as caught:
        r.validate(rule, fields)
    assert [error.split(":")[0] for error in caught.value.errors] == ["rule.1", "rule.2"]


def test_invalid_rules_list_every_problem(app, db_session):
    """Validation names each bad condition by its place; nothing is compiled."""
    fields = _fields(db_session)
    rule = {"op": "and", "items": [
        {"field": "metric.nope", "op": "eq", "value": 1},
        {"field": "metric.aum", "op": "contains", "value": "x"},
        {"field": "metric.age", "op": "gte", "value": "fifty"},
        {"op": "xor", "items": []}]}
    with pytest.raises(r.RuleError) as caught:
        r.validate(rule, fields)
    errors = caught.value.errors
    assert len(errors) == 4
    assert errors[0].startswith("rule.1:") and errors[2].startswith("rule.3:")
