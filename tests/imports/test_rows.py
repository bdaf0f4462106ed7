"""Row validation: typed values, references kept for the database stage, custom values kept raw,
and every problem of a row reported at once with the user's column header."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from backoffice.imports import reading, rows
from backoffice.imports.rows import FileDuplicates, validate_chunk, validate_row
from models.validators import luhn_check_digit, prc_id_check_digit, uscc_check_char


def prc_id(born: str = "19900307", area: str = "110105", seq: str = "123") -> str:
    first = area + born + seq
    return first + prc_id_check_digit(first)


def uscc(body: str = "91350100M000100Y4") -> str:
    return body[:17] + uscc_check_char(body[:17])


def card(prefix: str = "622202100112345678") -> str:
    return prefix + luhn_check_digit(prefix)


def problems(result) -> dict:
    return {str(column): str(message) for column, message in result.problems}


GOOD_CUSTOMER = {
    "customer_no": "C0001", "name": "张三", "gender": "男", "birth_date": "1990/3/7",
    "id_number": prc_id(), "mobile": "138 0013 8000", "email": "zs@example.com",
    "address": "北京市西城区", "occupation": "教师", "risk_tolerance": "稳健型",
    "onboarded_on": "45356", "branch": "BJ001", "owner": "rm1", "consent_sms": "是",
    "cf_hobby": " 钓鱼 ",
}


def test_good_customer_row_is_typed():
    result = validate_row("customers", 2, GOOD_CUSTOMER)
    assert result.ok, problems(result)
    assert result.values == {
        "customer_no": "C0001", "name": "张三", "gender": "M", "birth_date": dt.date(1990, 3, 7),
        "id_type": "PRC_ID", "id_number": prc_id(), "mobile": "13800138000",
        "email": "zs@example.com", "address": "北京市西城区", "occupation": "教师",
        "risk_tolerance": "C3", "onboarded_on": dt.date(2024, 3, 5), "consent_sms": True}
    assert result.references == {"branch": "BJ001", "owner": "rm1"}
    assert result.custom == {"cf_hobby": "钓鱼"}


def test_gender_and_birth_date_are_derived_from_the_id_number():
    result = validate_row("customers", 2, {"name": "李四", "id_number": prc_id(seq="124").lower()})
    assert result.ok
    assert result.values["gender"] == "F" and result.values["birth_date"] == dt.date(1990, 3, 7)


def test_every_problem_of_a_row_is_reported_at_once():
    raw = {"name": "", "gender": "unknown", "birth_date": "1990/2/30",
           "id_number": prc_id()[:-1] + ("0" if prc_id()[-1] != "0" else "1"),
           "mobile": "12345", "email": "nope", "risk_tolerance": "C9", "occupation": "x" * 101,
           "consent_sms": "maybe", "onboarded_on": "2999-01-01"}
    columns = {"name": "姓名", "mobile": "手机号"}
    result = validate_row("customers", 7, raw, columns=columns)
    found = problems(result)
    # An empty name is not a row problem: an update may leave it out (the customers target
    # requires it of a new customer, tests/imports/test_real_files.py).
    assert set(found) == {"Gender", "Birth date", "ID number", "手机号", "Email",
                          "Risk tolerance", "Occupation", "SMS consent", "Onboarded on"}
    assert found["ID number"] == "ID number check digit is wrong."
    assert found["手机号"] == "Mobile number must be 11 digits starting with 13 to 19."
    assert found["Occupation"] == "Longer than 100 characters."
    assert found["Onboarded on"] == "Date must be between 1900 and today."
    assert str(result.messages()[0]) == "Row 7, Gender: " + found["Gender"]


@pytest.mark.parametrize("id_number, birth, message", [
    (prc_id(born="19900230"), None, "ID number does not contain a real birth date."),
    (prc_id(born="20990101"), None, "ID number does not contain a real birth date."),
    ("1101051990030712", None, "ID number must be 17 digits followed by a digit or X (18 characters)."),
    (prc_id(), "1990-03-08", "ID number birth date does not match the birth date given."),
])
def test_prc_id_rules(id_number, birth, message):
    raw = {"name": "王五", "id_number": id_number}
    if birth:
        raw["birth_date"] = birth
    assert problems(validate_row("customers", 2, raw)) == {"ID number": message}


def test_id_number_disagreeing_with_gender():
    result = validate_row("customers", 2, {"name": "王五", "id_number": prc_id(), "gender": "女"})
    assert problems(result) == {"ID number": "ID number does not agree with the gender given."}


def test_corporate_customers_carry_a_uscc():
    good = validate_row("customers", 2, {"name": "某某科技有限公司", "customer_type": "对公",
                                         "id_number": uscc().lower()})
    assert good.ok and good.values["id_type"] == "USCC" and good.values["id_number"] == uscc()
    bad = validate_row("customers", 3, {"name": "某某公司", "customer_type": "corporate",
                                        "id_number": uscc()[:-1] + ("0" if uscc()[-1] != "0" else "1")})
    assert problems(bad) == {"ID number": "Unified social credit code check character is wrong."}


def test_passport_numbers_are_checked_for_length_only():
    assert validate_row("customers", 2, {"name": "Tom", "id_type": "护照",
                                         "id_number": "E12345678"}).ok


def test_duplicates_inside_the_file_across_chunks():
    data = ("客户号,姓名,身份证号\n"
            f"C1,甲,{prc_id(seq='001')}\n"
            f"C2,乙,{prc_id(seq='003')}\n"
            f"c1,丙,{prc_id(seq='005')}\n"
            f"C4,丁,{prc_id(seq='003')}\n").encode("gbk")
    table = reading.open_table(data)
    mapping = {"客户号": "customer_no", "姓名": "name", "身份证号": "id_number"}
    duplicates = FileDuplicates()
    results = [r for chunk in table.chunks(size=2)
               for r in validate_chunk("customers", chunk, mapping, duplicates)]
    assert [r.ok for r in results] == [True, True, False, False]
    assert [str(m) for m in results[2].messages()] == ["Row 4, 客户号: Same value as row 2 of this file."]
    assert [str(m) for m in results[3].messages()] == ["Row 5, 身份证号: Same value as row 3 of this file."]


def test_good_account():
    result = validate_row("accounts", 2, {"account_no": card(), "customer": "C0001",
                                          "product": "DEP01", "balance": "¥1,234.50",
                                          "currency": "人民币", "opened_on": "2024-03-05",
                                          "status": "正常"})
    assert result.ok, problems(result)
    assert result.values == {"account_no": card(), "balance": Decimal("1234.50"),
                             "currency": "CNY", "opened_on": dt.date(2024, 3, 5),
                             "status": "open"}
    assert result.references == {"customer": "C0001", "product": "DEP01"}


def test_account_rules():
    bad_card = card()[:-1] + str((int(card()[-1]) + 1) % 10)
    result = validate_row("accounts", 3, {"account_no": bad_card, "balance": "-5",
                                          "opened_on": "2024-03-05", "closed_on": "2024-01-01",
                                          "currency": "yuan!"})
    assert problems(result) == {
        "Account number": "Bank card number fails the Luhn check.",
        "Customer": "A value is required.", "Product": "A value is required.",
        "Balance": "Amount must not be negative.",
        "Currency": "Currency must be a 3-letter code such as CNY.",
        "Closed on": "Closing date is before the opening date."}
    # Not card-like (20 digits): no Luhn; not digits: refused.
    assert validate_row("accounts", 4, {"account_no": "11001234567890123456", "customer": "C1",
                                        "product": "P", "opened_on": "2024-01-01"}).ok
    assert "Account number" in problems(validate_row("accounts", 5, {"account_no": "AB12"}))


def test_account_duplicates():
    duplicates = FileDuplicates()
    raw = {"account_no": card(), "customer": "C1", "product": "P", "opened_on": "2024-01-01"}
    assert validate_row("accounts", 2, raw, duplicates=duplicates).ok
    assert not validate_row("accounts", 3, dict(raw), duplicates=duplicates).ok


def test_transactions():
    result = validate_row("transactions", 2, {"account": card(), "occurred_at": "2024/3/5 14:30",
                                              "amount": "1,000.00", "direction": "贷",
                                              "channel": "手机银行", "type": "Salary"})
    assert result.ok, problems(result)
    assert result.values == {"occurred_at": dt.datetime(2024, 3, 5, 14, 30),
                             "amount": Decimal("1000.00"), "direction": "in",
                             "channel": "mobile", "type": "salary"}
    assert result.references == {"account": card()}
    # A negative amount without a direction is an outflow.
    negative = validate_row("transactions", 3, {"account": "1", "occurred_at": "2024-03-05",
                                                "amount": "(88.00)", "channel": "ATM",
                                                "type": "spending"})
    assert negative.ok and negative.values["direction"] == "out"
    assert negative.values["amount"] == Decimal("88.00")
    bad = validate_row("transactions", 4, {"amount": "0", "direction": "借",
                                           "channel": "pigeon", "type": "x"})
    assert set(problems(bad)) == {"Account number", "Time", "Amount", "Channel", "Type"}
    missing_direction = validate_row("transactions", 5, {"account": "1", "occurred_at": "2024-03-05",
                                                         "amount": "5", "channel": "atm",
                                                         "type": "fee"})
    assert problems(missing_direction) == {"Direction": "A value is required."}


def test_interactions():
    result = validate_row("interactions", 2, {"customer": "C1", "staff": "rm1",
                                              "occurred_at": "2024-03-05 09:00", "channel": "微信",
                                              "topic": "投诉", "summary": "对利率不满",
                                              "satisfaction": "2", "complaint": "是"})
    assert result.ok, problems(result)
    assert result.values["channel"] == "wechat" and result.values["topic"] == "complaint"
    assert result.values["satisfaction"] == 2 and result.values["complaint"] is True
    assert result.references == {"customer": "C1", "staff": "rm1"}
    bad = validate_row("interactions", 3, {"customer": "C1", "occurred_at": "2024-03-05",
                                           "channel": "phone", "topic": "other", "summary": "x",
                                           "satisfaction": "6"})
    assert problems(bad) == {"Satisfaction": "Must be a whole number from 1 to 5."}


def test_unknown_kind():
    with pytest.raises(ValueError):
        validate_row("planets", 1, {})


def test_messages_follow_the_locale():
    """Messages are lazy: the same problem renders in Chinese under a zh request."""
    from pathlib import Path

    from flask import Flask
    from flask_babel import Babel, force_locale

    app = Flask(__name__)
    Babel(app, default_translation_directories=str(
        Path(rows.__file__).resolve().parent.parent / "translations"))
    result = validate_row("interactions", 9, {"summary": ""})
    with app.test_request_context("/"), force_locale("zh"):
        message = str(result.messages()[0])
    assert message == "第 9 行，客户：此项必填。"  # the first required field, Customer
