"""Cell parsers: every form branch spreadsheets hold parses, every other form is a problem,
and no parser ever raises."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backoffice.imports import cells
from models.choices import GENDERS, RISK_TOLERANCES


@pytest.mark.parametrize("raw", ["2024-03-05", "2024-3-5", "2024/3/5", "2024/03/05", "2024.3.5",
                                 "2024年3月5日", "2024 年 3 月 5 日", "20240305", "45356",
                                 "２０２４－０３－０５", "2024-03-05 00:00:00",
                                 "2024-03-05T00:00:00", " 2024-03-05 "])
def test_dates_in_every_spreadsheet_form(raw):
    assert cells.parse_date(raw) == (dt.date(2024, 3, 5), None)


@pytest.mark.parametrize("raw", ["2024-02-30", "2024-13-01", "3/5/2024", "yesterday", "2024-03",
                                 "20241305", "60", "0", "2024-03-05 10:30", "45356.5x"])
def test_impossible_or_ambiguous_dates_are_problems(raw):
    value, problem = cells.parse_date(raw)
    assert value is None and problem is not None


def test_empty_cells_are_none_without_problem():
    for parser in (cells.parse_date, cells.parse_datetime, cells.parse_money, cells.parse_int,
                   cells.parse_decimal, cells.parse_bool, cells.parse_email, cells.parse_text):
        assert parser("") == (None, None)
        assert parser("   ") == (None, None)
        assert parser(None) == (None, None)


def test_excel_serial_dates_and_the_1900_leap_year_bug():
    assert cells.excel_serial_to_datetime(1).date() == dt.date(1900, 1, 1)
    assert cells.excel_serial_to_datetime(59).date() == dt.date(1900, 2, 28)
    assert cells.excel_serial_to_datetime(60) is None  # 1900-02-29 never existed
    assert cells.excel_serial_to_datetime(61).date() == dt.date(1900, 3, 1)
    assert cells.excel_serial_to_datetime(45356).date() == dt.date(2024, 3, 5)
    assert cells.excel_serial_to_datetime(45356.75) == dt.datetime(2024, 3, 5, 18, 0)
    assert cells.excel_serial_to_datetime(0) is None
    assert cells.parse_date("45356", allow_serial=False)[0] is None


@pytest.mark.parametrize("raw, expected", [
    ("2024-03-05 14:30", dt.datetime(2024, 3, 5, 14, 30)),
    ("2024/3/5 14:30:15", dt.datetime(2024, 3, 5, 14, 30, 15)),
    ("2024-03-05T14:30:15", dt.datetime(2024, 3, 5, 14, 30, 15)),
    ("2024-03-05 14:30:15.250", dt.datetime(2024, 3, 5, 14, 30, 15, 250000)),
    ("2024年3月5日 14时30分", dt.datetime(2024, 3, 5, 14, 30)),
    ("2024-03-05", dt.datetime(2024, 3, 5)),
    ("45356.5", dt.datetime(2024, 3, 5, 12, 0)),
    ("2024-03-05 14:30:00+08:00", dt.datetime(2024, 3, 5, 14, 30)),
])
def test_datetimes(raw, expected):
    assert cells.parse_datetime(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["2024-03-05 25:00", "2024-03-05 noon", "later"])
def test_bad_datetimes(raw):
    assert cells.parse_datetime(raw)[1] is not None


@pytest.mark.parametrize("raw, expected", [
    ("1234.56", "1234.56"), ("1,234.56", "1234.56"), ("１２３，４５６．７８", "123456.78"),
    ("¥1,234.50", "1234.50"), ("￥1,234.50", "1234.50"), ("1234.5元", "1234.50"),
    ("CNY 10", "10.00"), ("10 CNY", "10.00"), ("RMB100", "100.00"), ("人民币100元", "100.00"),
    ("(500.00)", "-500.00"), ("-1,000", "-1000.00"), ("¥-12", "-12.00"), ("0", "0.00"),
    ("1234.5600000000001", "1234.56"), ("+3", "3.00"), (".5", "0.50"),
])
def test_money(raw, expected):
    assert cells.parse_money(raw) == (Decimal(expected), None)


@pytest.mark.parametrize("raw", ["1,23", "12,34.5", "1.234", "abc", "¥", "1e30", "--5", "$5",
                                 "1,000,00", "()", "NaN", "Infinity"])
def test_bad_money(raw):
    value, problem = cells.parse_money(raw)
    assert value is None and problem is not None


@pytest.mark.parametrize("raw, expected", [("42", 42), ("1,234", 1234), ("3.0", 3), ("-7", -7),
                                           ("４２", 42)])
def test_integers(raw, expected):
    assert cells.parse_int(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["3.5", "x", "1,23", "1e40"])
def test_bad_integers(raw):
    assert cells.parse_int(raw)[1] is not None


def test_decimal():
    assert cells.parse_decimal("1,234.5678") == (Decimal("1234.5678"), None)
    assert cells.parse_decimal("元")[1] is not None


@pytest.mark.parametrize("raw", ["是", "Y", "y", "yes", "TRUE", "true", "1", "√", "Ｙ"])
def test_true(raw):
    assert cells.parse_bool(raw) == (True, None)


@pytest.mark.parametrize("raw", ["否", "N", "no", "FALSE", "false", "0", "×"])
def test_false(raw):
    assert cells.parse_bool(raw) == (False, None)


def test_bad_bool():
    assert cells.parse_bool("maybe")[1] is not None


@pytest.mark.parametrize("raw, expected", [("M", "M"), ("Male", "M"), ("male", "M"), ("男", "M"),
                                           ("Female", "F"), ("女", "F"), (" f ", "F")])
def test_choice_by_code_english_or_chinese_label(raw, expected):
    assert cells.parse_choice(raw, GENDERS, aliases={"f": "F"}) == (expected, None)


def test_choice_chinese_label_from_the_catalogue():
    assert cells.parse_choice("C1 保守型", RISK_TOLERANCES) == ("C1", None)
    assert cells.parse_choice("c3", RISK_TOLERANCES) == ("C3", None)
    value, problem = cells.parse_choice("C9", RISK_TOLERANCES)
    assert value is None and "C1, C2" in str(problem)


def test_text_length():
    assert cells.parse_text("  张三 ", 10) == ("张三", None)
    assert cells.parse_text("x" * 11, 10)[1] is not None


def test_email():
    assert cells.parse_email("Li.Si@Example.COM") == ("Li.Si@example.com", None)
    assert cells.parse_email("not-an-email")[1] is not None
    assert cells.parse_email("a@b")[1] is not None


PARSERS = [cells.parse_date, cells.parse_datetime, cells.parse_money, cells.parse_int,
           cells.parse_decimal, cells.parse_bool, cells.parse_email, cells.parse_text,
           lambda raw: cells.parse_choice(raw, GENDERS)]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="0123456789.,-()¥元年月日:/ T+e１２３，．")))
@example("1E1000000")  # beyond the decimal context's exponents: found by this test in CI
@example("-1e999999")
@example("1e-1000000")
def test_parsers_never_raise(raw):
    for parser in PARSERS:
        value, problem = parser(raw)
        assert value is None or problem is None
        assert str(problem) != "The value could not be read."  # the safety net never fired
