"""Header mapping: Chinese and English synonyms, folding, custom labels, nothing dropped, and
type inference for the columns that match no field."""
from __future__ import annotations

import pytest

from backoffice.imports import mapping


@pytest.mark.parametrize("kind, header, key", [
    ("customers", "姓名", "name"), ("customers", "客户姓名", "name"), ("customers", "Name", "name"),
    ("customers", "Surname", "name"), ("customers", "身份证号", "id_number"),
    ("customers", "证件号码", "id_number"), ("customers", "ID Number", "id_number"),
    ("customers", "id_number", "id_number"), ("customers", "手机号", "mobile"),
    ("customers", "联系电话", "mobile"), ("customers", "Phone", "mobile"),
    ("customers", "性别", "gender"), ("customers", "出生日期", "birth_date"),
    ("customers", "生日", "birth_date"), ("customers", "Birth Date", "birth_date"),
    ("customers", "邮箱", "email"), ("customers", "E-mail", "email"),
    ("customers", "地址", "address"), ("customers", "职业", "occupation"),
    ("customers", "客户号", "customer_no"), ("customers", "Customer Number", "customer_no"),
    ("customers", "customer_no", "customer_no"), ("customers", "风险等级", "risk_tolerance"),
    ("customers", "风险承受能力", "risk_tolerance"), ("customers", "Risk Tolerance", "risk_tolerance"),
    ("customers", "开户日期", "onboarded_on"), ("customers", "Onboarded", "onboarded_on"),
    ("customers", "支行", "branch"), ("customers", "客户经理", "owner"),
    ("accounts", "账号", "account_no"), ("accounts", "Account Number", "account_no"),
    ("accounts", "产品", "product"), ("accounts", "Product Code", "product"),
    ("accounts", "余额", "balance"), ("accounts", "开户日期", "opened_on"),
    ("accounts", "客户号", "customer"),
    ("transactions", "交易时间", "occurred_at"), ("transactions", "金额", "amount"),
    ("transactions", "方向", "direction"), ("transactions", "借贷", "direction"),
    ("transactions", "渠道", "channel"), ("transactions", "类型", "type"),
    ("transactions", "账号", "account"),
    ("interactions", "渠道", "channel"), ("interactions", "主题", "topic"),
    ("interactions", "摘要", "summary"), ("interactions", "满意度", "satisfaction"),
    ("interactions", "投诉", "complaint"),
])
def test_synonyms(kind, header, key):
    assert mapping.auto_map([header], kind).columns == {header: key}


@pytest.mark.parametrize("header", ["  客户 姓名 ", "CUSTOMER_NAME", "customer-name", "Customer Name:",
                                    "（客户姓名）", "ＮＡＭＥ"])
def test_matching_ignores_case_space_punctuation_and_width(header):
    assert mapping.auto_map([header], "customers").columns == {header: "name"}


def test_custom_labels_and_unmatched_columns_are_never_dropped():
    result = mapping.auto_map(["姓名", "客户等级", "备用字段"], "customers",
                              extra_labels={"客户 等级": "cf_level"},
                              sample_rows=[{"备用字段": "x"}, {"备用字段": "y"}])
    assert result.columns == {"姓名": "name", "客户等级": "cf_level"}
    assert [(c.header, c.inferred_type) for c in result.unmatched] == [("备用字段", "text")]


def test_builtin_synonyms_win_over_custom_labels():
    result = mapping.auto_map(["姓名"], "customers", extra_labels={"姓名": "cf_name"})
    assert result.columns == {"姓名": "name"}


def test_second_column_for_a_taken_field_is_unmatched_not_dropped():
    result = mapping.auto_map(["姓名", "客户姓名"], "customers")
    assert result.columns == {"姓名": "name"}
    assert result.unmatched[0].header == "客户姓名"
    assert result.unmatched[0].duplicate_of == "name"


def test_templates_are_plain_dicts_and_apply_to_new_files():
    result = mapping.auto_map(["姓名", "手机"], "customers")
    template = result.template("branch A")
    assert template == {"name": "branch A", "kind": "customers",
                        "columns": {"姓名": "name", "手机": "mobile"}}
    applied = mapping.apply_template([" 姓名", "手机", "other"], template)
    assert applied.columns == {" 姓名": "name", "手机": "mobile"}
    assert [c.header for c in applied.unmatched] == ["other"]


def test_map_row():
    assert mapping.map_row({"姓名": "张三", "x": "1"}, {"姓名": "name"}) == {"name": "张三"}


def test_unknown_kind():
    with pytest.raises(ValueError):
        mapping.auto_map(["a"], "planets")


@pytest.mark.parametrize("values, expected", [
    (["1", "2", "300", "-4"], "integer"),
    (["1.5", "2.25", "3.125"], "decimal"),
    (["0", "83807.86", "1,200.00"], "money"),
    (["¥1,200", "¥3"], "money"),
    (["2024-03-05", "2024/3/6", "2024年3月7日"], "date"),
    (["20240305", "20231231"], "date"),
    (["是", "否", "是"], "boolean"),
    (["0", "1", "1", "0"], "boolean"),
    (["Y", "N"], "boolean"),
    (["a@b.com", "c@d.cn"], "email"),
    (["13800138000", "139 0013 9000"], "mobile"),
    (["11010519491231002X", "110105194912310021"], "text"),  # one check digit wrong
    (["11010519491231002X"], "prc_id"),
    (["France", "Spain", "France", "Germany", "Spain", "France"], "choice"),
    (["a long text " * 30], "long_text"),
    (["line\nbreak"], "long_text"),
    (["北京", "上海"], "text"),
    (["", "  "], "text"),
    (["619", "850", "1"], "integer"),  # never read as Excel serial dates
])
def test_infer_type(values, expected):
    assert mapping.infer_type(values)[0] == expected


def test_choice_inference_lists_the_values():
    assert mapping.infer_type(["A", "B", "A", "B"]) == ("choice", ["A", "B"])
