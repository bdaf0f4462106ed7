"""Validators for Chinese identifiers, shared by forms, API, imports and demo data."""
from __future__ import annotations

import datetime as dt

import pytest

from models import validators as v


def test_known_good_prc_id():
    # The GB 11643-1999 standard's worked example.
    assert v.check_prc_id("11010519491231002X") is None
    assert v.prc_id_birth_date("11010519491231002X") == dt.date(1949, 12, 31)
    assert v.prc_id_gender("11010519491231002X") == "F"


@pytest.mark.parametrize("value", [
    "11010519491231002", "1101051949123100211", "11010519491231002Y",
    "110105194913310025",  # month 13
    "110105195002300020",  # 30 February
    "110105194912310021",  # wrong check digit
])
def test_bad_prc_ids(value):
    assert v.check_prc_id(value) is not None


def test_prc_id_must_agree_with_birth_date():
    assert v.check_prc_id("11010519491231002X", birth_date=dt.date(1949, 12, 31)) is None
    assert v.check_prc_id("11010519491231002X", birth_date=dt.date(1950, 1, 1)) is not None


def test_future_birth_date_is_refused():
    first17 = "11010520990101001"
    value = first17 + v.prc_id_check_digit(first17)
    assert v.check_prc_id(value, today=dt.date(2026, 11, 28)) is not None


def test_lower_case_x_and_spaces_are_normalised():
    assert v.normalise_prc_id(" 110105 19491231002x ") == "11010519491231002X"
    assert v.check_prc_id("11010519491231002x") is None


@pytest.mark.parametrize("value,ok", [
    ("13812345678", True), ("+86 138 1234 5678", True), ("0086-19912345678", True),
    ("12812345678", False), ("1381234567", False), ("138123456789", False), ("abc", False),
])
def test_mobiles(value, ok):
    assert (v.check_mobile(value) is None) is ok


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L",
                                  "911100007109310534"])
def test_real_credit_codes_pass(code):
    assert v.check_uscc(code) is None


def test_bad_credit_codes():
    assert v.check_uscc("91350100M000100Y44") is not None  # wrong check character
    assert v.check_uscc("91350100M000100YI3") is not None  # I is not in the alphabet
    assert v.check_uscc("91350100M000100Y4") is not None  # 17 characters


def test_bank_card_luhn():
    assert v.check_bank_card("4111 1111 1111 1111") is None
    assert v.check_bank_card("4111111111111112") is not None
    partial = "622202100112345678"
    assert v.luhn_valid(partial + v.luhn_check_digit(partial))
