"""Filters on custom fields run as SQL on the test database and agree with Python.

Customers' ``custom_fields`` are filled directly with typed storage values; every filter is
compiled by ``backoffice.fields.filters`` and run as one query, and its result must equal a
plain Python evaluation of the same condition over the same values (no row is filtered in
Python by the code under test).
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from sqlalchemy import select

from backoffice.fields.filters import FilterError, compile_filter, operators_for
from backoffice.fields.registry import Choice, FieldSpec
from backoffice.fields.values import from_storage, to_storage, validate_value
from models import Customer
from models.crypto import UnsearchableField

CHOICES = (Choice("a", "甲", "A", 1), Choice("b", "乙", "B", 2), Choice("c", "丙", "C", 3))


def spec(key, field_type, **kwargs):
    return FieldSpec(id=None, entity="customer", key=key, type=field_type, label_zh=key,
                     label_en=key, choices=CHOICES, **kwargs)


SPECS = {s.key: s for s in [
    spec("t_text", "text"), spec("t_int", "integer"), spec("t_dec", "decimal"),
    spec("t_money", "money"), spec("t_date", "date"), spec("t_dt", "datetime"),
    spec("t_bool", "boolean"), spec("t_choice", "choice"), spec("t_multi", "multi_choice"),
    spec("t_email", "email"),
]}
WORDS = ["Alpha", "beta", "GAMMA", "delta 100%", "under_score", "中文客户", "vip客户"]


def document(rng: random.Random) -> dict:
    values = {
        "t_text": rng.choice(WORDS),
        "t_int": rng.randint(-5, 120),
        "t_dec": Decimal(rng.randint(-50000, 50000)) / Decimal(1000),
        "t_money": Decimal(rng.randint(0, 2_000_000)) / Decimal(100),
        "t_date": dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 1500)),
        "t_dt": dt.datetime(2024, 1, 1) + dt.timedelta(minutes=rng.randint(0, 100000)),
        "t_bool": rng.random() < 0.5,
        "t_choice": rng.choice("abc"),
        "t_multi": sorted(rng.sample("abc", rng.randint(0, 3))),
        "t_email": f"{rng.choice(WORDS[:3]).lower()}@ex{rng.randint(1, 3)}.cn",
    }
    return {key: to_storage(SPECS[key], value) for key, value in values.items()
            if rng.random() < 0.85 and value != []}


CASES = [
    ("t_text", "eq", "beta"), ("t_text", "contains", "ALP"), ("t_text", "contains", "100%"),
    ("t_text", "contains", "_"), ("t_text", "contains", "客户"),
    ("t_int", "eq", "7"), ("t_int", "gt", "60"), ("t_int", "lte", "0"),
    ("t_int", "between", ("10", "20")), ("t_int", "between", ("", "3")),
    ("t_dec", "eq", "1.5"), ("t_dec", "gte", "-1.25"), ("t_dec", "between", ("-10", "10.5")),
    ("t_money", "gt", "10000.00"), ("t_money", "lt", "1500.00"),
    ("t_money", "between", ("5000", "15000.50")),
    ("t_date", "eq", "2021-03-04"), ("t_date", "gte", "2023-06-01"),
    ("t_date", "between", ("2021-01-01", "2021-12-31")),
    ("t_dt", "lt", "2024-02-01 00:00"), ("t_dt", "between", ("2024-01-15", "2024-02-15")),
    ("t_bool", "eq", "true"), ("t_bool", "eq", False),
    ("t_choice", "eq", "b"), ("t_choice", "any_of", ["a", "c"]),
    ("t_multi", "eq", "a"), ("t_multi", "any_of", ["b", "c"]), ("t_multi", "any_of", []),
    ("t_email", "eq", "alpha@ex1.cn"), ("t_email", "contains", "ex2"),
]


def python_match(field: FieldSpec, op: str, value, stored) -> bool:
    if stored is None:
        return False
    have = from_storage(field, stored)

    def typed(raw):
        return validate_value(field, raw)[0]

    if op == "eq":
        return typed(value)[0] in have if field.type == "multi_choice" else have == typed(value)
    if op == "contains":
        return value.lower() in have.lower()
    if op == "any_of":
        wanted = set(value)
        return bool(wanted & set(have)) if field.type == "multi_choice" else have in wanted
    if op == "between":
        low, high = value
        return ((low in ("", None) or have >= typed(low))
                and (high in ("", None) or have <= typed(high)))
    bound = typed(value)
    return {"gt": have > bound, "gte": have >= bound, "lt": have < bound,
            "lte": have <= bound}[op]


@pytest.fixture
def filled(scratch_customers, db_session):
    rng = random.Random(4)
    docs = [document(rng) for _ in range(120)]
    docs += [{"t_int": 7, "t_dec": "1.5", "t_date": "2021-03-04", "t_text": "beta",
              "t_email": "alpha@ex1.cn", "t_choice": "b", "t_multi": ["a"]}]
    ids = scratch_customers(docs)
    return dict(zip(ids, docs, strict=True))


@pytest.mark.parametrize("key,op,value", CASES)
def test_filter_in_sql_matches_python(filled, db_session, key, op, value):
    field = SPECS[key]
    condition = compile_filter(field, op, value, session=db_session)
    found = set(db_session.execute(
        select(Customer.id).where(Customer.id.in_(list(filled)), condition)).scalars())
    expected = {cid for cid, doc in filled.items()
                if python_match(field, op, value, doc.get(key))}
    assert found == expected
    if op not in ("any_of",) or value:
        assert expected or op in ("eq",), "the case should select something"


def test_operators_offered_per_type():
    assert operators_for(SPECS["t_text"]) == ("eq", "contains")
    assert "between" in operators_for(SPECS["t_money"])
    assert "any_of" in operators_for(SPECS["t_multi"])
    assert "contains" not in operators_for(SPECS["t_int"])


def test_wrong_operator_or_value_is_refused(db_session):
    with pytest.raises(FilterError):
        compile_filter(SPECS["t_bool"], "gt", "true", session=db_session)
    with pytest.raises(FilterError):
        compile_filter(SPECS["t_int"], "eq", "seven", session=db_session)
    with pytest.raises(FilterError):
        compile_filter(SPECS["t_choice"], "any_of", ["z"], session=db_session)


def test_sensitive_fields_cannot_be_filtered(db_session):
    with pytest.raises(UnsearchableField):
        compile_filter(spec("s", "text", sensitive=True), "eq", "x", session=db_session)
