"""Whole-record validation against live definitions: every error at once, unique across all
records, defaults for new records; and the PostgreSQL unique expression index."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from backoffice.fields import registry, service
from backoffice.fields.values import apply_values, read_values, validate_record
from models import Customer
from tests.fields.conftest import unique_key


def test_validate_record_collects_every_error_and_checks_uniqueness(
        db_session, definitions, scratch_customers):
    code, age, note = unique_key("code"), unique_key("age"), unique_key("note")
    definitions(key=code, field_type="text", unique=True, label_zh="客户代码",
                regex=r"[A-Z]\d{3}", regex_message="代码为一个大写字母加三位数字")
    definitions(key=age, field_type="integer", min_value="18", max_value="120",
                label_zh="年龄", required=True)
    definitions(key=note, field_type="text", max_length=5, default_value="无", label_zh="备注")
    ids = scratch_customers([{code: "A100", age: 40}])
    clean, errors = validate_record("customer", {code: "A100", age: "17", "nope": 1})
    assert set(errors) == {code, age, "nope"}
    assert "客户代码" in errors[code] and "已被其他记录使用" in errors[code]
    assert "年龄" in errors[age] and "18" in errors[age]
    clean, errors = validate_record("customer", {code: "a1", note: "太长的备注文字"})
    assert errors[code] == "代码为一个大写字母加三位数字"
    assert "5" in errors[note] and "年龄" in errors[age]  # required, missing
    clean, errors = validate_record("customer", {code: "B200", age: "30"})
    assert errors == {} and clean == {code: "B200", age: 30, note: "无"}  # default applied
    existing = db_session.get(Customer, ids[0])
    clean, errors = validate_record("customer", {code: "A100"}, existing=existing)
    assert errors == {}  # its own value is not a clash
    apply_values(existing, {code: "A101"})
    assert existing.custom_fields[code] == "A101"
    assert read_values(existing)[code] == "A101"
    db_session.rollback()


def test_registry_reads_definitions_each_call_in_display_order(db_session, definitions):
    first, second = unique_key("zz_a"), unique_key("zz_b")
    definitions(key=second, field_type="text", section="zz", position=2)
    before = [s.key for s in registry.field_catalog("customer")]
    assert second in before and first not in before
    definitions(key=first, field_type="date", section="zz", position=1)
    keys = [s.key for s in registry.field_catalog("customer")]
    assert keys.index(first) < keys.index(second)
    assert registry.field_spec("interaction", first) is None


def test_unique_fields_get_an_expression_index_on_postgresql(db_session, definitions,
                                                             scratch_customers):
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: set CRM_TEST_DATABASE_URL to a postgresql URL")
    key = unique_key("passport")
    made = definitions(key=key, field_type="text", unique=True)
    spec = registry.spec_of(made)
    try:
        assert service.sync_unique_index(spec, db_session)
        db_session.commit()
        scratch_customers([{key: "E1"}])
        with pytest.raises(IntegrityError):
            scratch_customers([{key: "E1"}])
    finally:
        db_session.rollback()
        service.sync_unique_index(registry.spec_of(made, unique=False), db_session)
        db_session.commit()
    assert db_session.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = :n"),
                              {"n": service.unique_index_name(spec)}).first() is None
