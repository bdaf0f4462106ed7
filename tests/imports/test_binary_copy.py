"""Rows go into PostgreSQL by binary COPY when every value has its column's own Python type,
and by text COPY otherwise (``pg_copy.binary_types``): either way the same values land."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from backoffice.extensions import db
from backoffice.imports import pg_copy
from tests.imports.conftest import commit, csv_bytes

ROWS = [
    {"name": "甲", "born": dt.date(1990, 3, 5), "seen": dt.datetime(2024, 1, 2, 3, 4, 5),
     "amount": Decimal("1234.50"), "doc": {"等级": "金", "n": 1}, "plain": [1, "二"],
     "flag": True, "big": 2**40},
    {"name": None, "born": None, "seen": None, "amount": None, "doc": {}, "plain": None,
     "flag": False, "big": None},
]


@pytest.fixture
def scratch(imports):
    """A table of every type the import writes, made and dropped inside the test's
    transaction."""
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    table = Table(
        f"scratch_{uuid.uuid4().hex[:8]}", MetaData(), Column("id", Integer, primary_key=True),
        Column("name", String(10)), Column("born", Date), Column("seen", DateTime),
        Column("amount", Numeric(18, 2)), Column("doc", JSONB), Column("plain", JSON),
        Column("flag", Boolean), Column("big", db.BigInteger))
    connection = db.session.connection()
    table.create(connection)
    yield connection, table
    db.session.rollback()


def copy_and_read(connection, table, rows, monkeypatch, formats=None):
    """Copy ``rows`` with ids 1..n; the format used and the rows read back."""
    formats = [] if formats is None else formats
    real = pg_copy.binary_types

    def recording(*args):
        types = real(*args)
        formats.append("binary" if types else "text")
        return types

    monkeypatch.setattr(pg_copy, "binary_types", recording)
    raw = pg_copy.driver_connection(connection)
    pg_copy.copy_rows(connection, raw, table, list(rows[0]), rows,
                      ids=list(range(1, len(rows) + 1)))
    found = connection.execute(select(table).order_by(table.c.id)).mappings().all()
    return formats, [{k: v for k, v in row.items() if k != "id"} for row in found]


def test_values_of_their_own_types_go_in_binary(scratch, monkeypatch):
    connection, table = scratch
    formats, found = copy_and_read(connection, table, ROWS, monkeypatch)
    assert formats == ["binary"]
    assert found == ROWS


@pytest.mark.parametrize("column, value, stored", [
    ("born", "2024-03-05", dt.date(2024, 3, 5)),  # a date's text: the server parses it
    ("seen", dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
     dt.datetime(2024, 1, 2, 3, 4, 5)),  # aware, into a column without time zone
    ("amount", 7, Decimal("7.00")),  # an int into numeric
    ("name", 42, "42"),  # a number into text
])
def test_values_of_other_types_go_in_text_as_before(scratch, monkeypatch, column, value,
                                                    stored):
    connection, table = scratch
    rows = [dict(ROWS[0]), {**ROWS[0], column: value}]
    formats, found = copy_and_read(connection, table, rows, monkeypatch)
    assert formats == ["text"]
    assert found[0] == ROWS[0] and found[1] == {**ROWS[0], column: stored}


def test_a_value_the_server_refuses_fails_in_binary_too(scratch, monkeypatch):
    """A text longer than its column: refused by the server whichever format carried it."""
    connection, table = scratch
    formats = []
    with pytest.raises(Exception, match="too long"):
        copy_and_read(connection, table, [{**ROWS[0], "name": "长" * 11}], monkeypatch,
                      formats)
    assert formats == ["binary"]


def test_a_customer_import_copies_its_customers_in_binary(imports, monkeypatch):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    seen = []
    real = pg_copy.binary_types

    def recording(connection, table, columns, records):
        types = real(connection, table, columns, records)
        seen.append((table.name, types is not None))
        return types

    monkeypatch.setattr(pg_copy, "binary_types", recording)
    prefix = f"Y{uuid.uuid4().hex[:6]}"
    summary = commit(csv_bytes(["客户号", "姓名", "支行", "出生日期"], [
        [f"{prefix}1", "二进制一", "B1", "1990-03-05"], [f"{prefix}2", "二进制二", "B1", ""]]))
    assert summary["created"] == 2, summary
    assert ("customer", True) in seen
    from models import Customer

    found = db.session.execute(select(Customer).where(Customer.customer_no.like(
        f"{prefix}%")).order_by(Customer.customer_no)).scalars().all()
    assert [(c.name, c.birth_date, c.custom_fields) for c in found] == [
        ("二进制一", dt.date(1990, 3, 5), {}), ("二进制二", None, {})]
