"""Custom-field values: every type's parsing, every rule with the field's own message, storage.

Pure: specs are built directly, no app or database (sensitive storage runs under a test key
ring), so these guard ``backoffice.fields.values`` alone.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from backoffice.fields.registry import Choice, FieldSpec
from backoffice.fields.values import from_storage, plain_storage, to_storage, validate_value
from models import crypto
from models.validators import prc_id_check_digit

CHOICES = (Choice("gold", "金卡", "Gold", 1), Choice("silver", "银卡", "Silver", 2),
           Choice("basic", "普卡", "Basic", 3))


def spec(field_type, **kwargs) -> FieldSpec:
    return FieldSpec(id=1, entity="customer", key="f", type=field_type, label_zh="字段",
                     label_en="Field", choices=CHOICES, **kwargs)


def valid_id() -> str:
    first17 = "11010519491231002"
    return first17 + prc_id_check_digit(first17)


GOOD = [
    ("text", "  hello ", "hello"),
    ("long_text", "line1\r\nline2\n", "line1\nline2"),
    ("integer", "1,234", 1234),
    ("integer", 42, 42),
    ("integer", "5.0", 5),
    ("decimal", "3.14159", Decimal("3.14159")),
    ("money", "1234.5", Decimal("1234.50")),
    ("money", Decimal("10"), Decimal("10.00")),
    ("date", "2024-02-29", dt.date(2024, 2, 29)),
    ("datetime", "2024-02-29T08:30:00+08:00", dt.datetime(2024, 2, 29, 0, 30)),
    ("datetime", "2024-02-29 08:30", dt.datetime(2024, 2, 29, 8, 30)),
    ("boolean", "是", True),
    ("boolean", "false", False),
    ("boolean", True, True),
    ("choice", "gold", "gold"),
    ("multi_choice", "basic,gold", ["gold", "basic"]),
    ("multi_choice", ["silver"], ["silver"]),
    ("email", "Wang.Li@Example.COM", "Wang.Li@example.com"),
    ("mobile", "+86 138-0013-8000", "13800138000"),
    ("prc_id", valid_id().lower(), valid_id().upper()),
    ("url", "https://bank.example.cn/a?b=1", "https://bank.example.cn/a?b=1"),
]

BAD = [
    ("integer", "1.5"), ("integer", "abc"), ("integer", True), ("integer", "1E1000000"),
    ("decimal", "x1"), ("decimal", "NaN"), ("decimal", "1E1000000"),
    ("money", "1.234"), ("money", "1e20"), ("money", "1e30"),
    ("date", "2023-02-29"), ("date", "29/02/2024"),
    ("datetime", "yesterday"),
    ("boolean", "maybe"),
    ("choice", "platinum"), ("multi_choice", "gold,platinum"),
    ("email", "no-at-sign"), ("mobile", "12345"), ("prc_id", "110105194912310021"),
    ("url", "ftp://example.com"), ("url", "example.com"),
]


@pytest.mark.parametrize("field_type,raw,expected", GOOD)
def test_valid_values_parse_to_their_type(field_type, raw, expected):
    assert validate_value(spec(field_type), raw) == (expected, None)


@pytest.mark.parametrize("field_type,raw", BAD)
def test_invalid_values_are_refused_with_a_message_naming_the_field(field_type, raw):
    value, message = validate_value(spec(field_type), raw)
    assert value is None and message and "字段" in str(message)


@pytest.mark.parametrize("field_type", ["text", "integer", "money", "date", "choice",
                                        "multi_choice", "boolean"])
def test_required_refuses_empty_and_optional_accepts_it(field_type):
    for empty in (None, "", "   ", []):
        assert validate_value(spec(field_type, required=True), empty)[1] is not None
        assert validate_value(spec(field_type), empty) == (None, None)


def test_regex_uses_the_fields_own_message_or_a_default():
    own = spec("text", regex=r"[A-Z]{2}\d{4}", regex_message="编号格式：两个大写字母加四位数字")
    assert validate_value(own, "AB1234") == ("AB1234", None)
    assert validate_value(own, "ab1234") == (None, "编号格式：两个大写字母加四位数字")
    assert validate_value(own, "AB12345")[1] == "编号格式：两个大写字母加四位数字"  # full match
    plain = spec("text", regex=r"\d+")
    assert "字段" in str(validate_value(plain, "x")[1])


def test_min_max_for_numbers_money_and_dates():
    number = spec("integer", min_value="1", max_value="10")
    assert validate_value(number, "1")[0] == 1 and validate_value(number, "10")[0] == 10
    assert "1" in str(validate_value(number, "0")[1])
    assert "10" in str(validate_value(number, "11")[1])
    money = spec("money", min_value="0.01", max_value="5000")
    assert validate_value(money, "0.00")[1] and validate_value(money, "5000.01")[1]
    assert validate_value(money, "5000")[0] == Decimal("5000.00")
    date = spec("date", min_value="2020-01-01", max_value="2020-12-31")
    assert validate_value(date, "2019-12-31")[1] and validate_value(date, "2021-01-01")[1]
    assert validate_value(date, "2020-06-01")[0] == dt.date(2020, 6, 1)


def test_max_length_counts_characters_not_bytes():
    field = spec("text", max_length=4)
    assert validate_value(field, "中国银行") == ("中国银行", None)
    assert "4" in str(validate_value(field, "中国银行行")[1])


STORED = [
    ("integer", 7, 7),
    ("decimal", Decimal("0.1"), "0.1"),
    ("money", Decimal("12.3"), "12.30"),
    ("date", dt.date(2024, 1, 2), "2024-01-02"),
    ("datetime", dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
    ("boolean", False, False),
    ("choice", "gold", "gold"),
    ("multi_choice", ["gold", "basic"], ["gold", "basic"]),
    ("text", "你好", "你好"),
]


@pytest.mark.parametrize("field_type,typed,stored", STORED)
def test_storage_is_typed_json_and_round_trips(field_type, typed, stored):
    field = spec(field_type)
    assert plain_storage(field, typed) == stored
    assert to_storage(field, typed) == stored
    assert from_storage(field, to_storage(field, typed)) == typed
    assert to_storage(field, None) is None and from_storage(field, None) is None


@pytest.mark.parametrize("field_type,typed,stored", STORED)
def test_sensitive_values_are_sealed_and_bound_to_record_and_key(field_type, typed, stored):
    field = spec(field_type, sensitive=True)
    with crypto.using_keyring(crypto.KeyRing.generate("t1")):
        sealed = to_storage(field, typed, uid="rec-1")
        assert isinstance(sealed, str) and sealed.startswith("v1.t1.")
        assert str(stored) not in sealed.split(".", 2)[2] or len(str(stored)) < 3
        assert from_storage(field, sealed, uid="rec-1") == typed
        with pytest.raises(crypto.DecryptionError):
            from_storage(field, sealed, uid="rec-2")  # copied onto another record
        with pytest.raises(crypto.DecryptionError):
            from_storage(replace(field, key="other"), sealed, uid="rec-1")  # another field
