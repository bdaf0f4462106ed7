"""The mask formats the issue specifies, and that masks never carry the hidden digits."""
from __future__ import annotations

from backoffice.security.masking import mask_field, mask_value


def test_id_number_and_mobile_formats():
    assert mask_value("id_number", "110101199003071234") == "110***********1234"
    assert mask_value("mobile", "13812345678") == "138****5678"


def test_email_address_account_and_secrets():
    assert mask_value("email", "wang.xiaoming@example.com") == "w***@example.com"
    assert mask_value("address", "北京市东城区东长安街1号") == "北京市东城区****"
    assert mask_value("account_no", "6222020200112233445") == "6222***********3445"
    assert mask_value("secret", "年收入 120 万") == "******"


def test_empty_and_non_sensitive_values_pass_through():
    assert mask_value("mobile", None) is None
    assert mask_field("name", "王小明") == "王小明"
    assert mask_field("mobile", "13812345678") == "138****5678"


def test_short_values_are_fully_starred():
    assert mask_value("id_number", "1234567") == "*******"
