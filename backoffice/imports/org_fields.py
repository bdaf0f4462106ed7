"""The columns of a bank's first-day files: branches, staff and products.

Kept apart from the customer-data kinds so that ``mapping`` and ``rows`` only add them (header
synonyms here, rules built by :func:`rules` with the helpers of ``rows``). Role names in a staff
file may be the codes of ``config/roles.py`` (``Operator``), their English labels or their
Chinese labels (``数据运营``), like every other choice column. Staff files never carry
passwords: a column that looks like one is left unmatched and the mapping cannot offer it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from models import choices as C
from models.validators import check_mobile, normalise_mobile

ORG_KINDS = ("branches", "staff", "products")

SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "branches": {
        "code": ("机构号", "机构代码", "机构编号", "支行代码", "支行编号", "网点代码", "网点号",
                 "branch code", "branch no", "code"),
        "name": ("机构名称", "支行名称", "网点名称", "名称", "branch name", "name", "branch"),
        "city": ("城市", "所在城市", "city"),
        "address": ("地址", "网点地址", "address"),
        "phone": ("电话", "联系电话", "phone", "telephone"),
    },
    "staff": {
        "username": ("用户名", "登录名", "账号", "username", "user name", "login"),
        "employee_no": ("工号", "员工号", "员工编号", "柜员号", "employee no", "employee number",
                        "staff no", "staff number"),
        "name": ("姓名", "员工姓名", "name", "full name"),
        "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail", "mail"),
        "mobile": ("手机", "手机号", "手机号码", "mobile", "mobile number", "phone"),
        "role": ("角色", "岗位", "role", "position"),
        "branch": ("支行", "所属支行", "网点", "机构", "branch", "branch code"),
    },
    "products": {
        "code": ("产品代码", "产品编号", "产品号", "product code", "code"),
        "name": ("产品名称", "名称", "product name", "name", "product"),
        "category": ("产品类别", "产品类型", "类别", "类型", "category", "type"),
        "risk_level": ("风险等级", "产品风险等级", "风险级别", "risk level", "risk rating", "risk"),
        "min_amount": ("起购金额", "起存金额", "最低金额", "min amount", "minimum amount"),
        "description": ("说明", "产品说明", "描述", "description"),
    },
}

ALIASES = {
    "product_category": {"活期": "deposit", "活期存款": "deposit", "存款": "deposit",
                         "定期": "time_deposit", "定期存款": "time_deposit", "理财": "wealth",
                         "理财产品": "wealth", "基金": "fund", "保险": "insurance",
                         "贷款": "loan", "信用卡": "credit_card"},
    "risk_level": {"r1": "R1", "r2": "R2", "r3": "R3", "r4": "R4", "r5": "R5",
                   "低": "R1", "低风险": "R1", "中低": "R2", "中低风险": "R2", "中": "R3",
                   "中风险": "R3", "中高": "R4", "中高风险": "R4", "高": "R5", "高风险": "R5"},
}


def role_choices() -> dict[str, Any]:
    """Role code -> its label, from ``config/roles.py`` (the roles ``flask crm init`` seeds)."""
    from config.roles import ROLES

    return {name: spec["label"] for name, spec in ROLES.items()}


def rules(Rule, build, text, ref, choice, compact, money) -> dict:
    """The rules of the three kinds, made with ``rows``' own helpers (passed in: ``rows``
    imports this module)."""
    from backoffice.imports import cells

    return {
        "branches": build(
            Rule("code", _l("Branch code"), ref(20), required=True),
            Rule("name", _l("Name"), text(100), required=True),
            Rule("city", _l("City"), text(50)),
            Rule("address", _l("Address"), text(255)),
            Rule("phone", _l("Phone"), text(30)),
        ),
        "staff": build(
            Rule("username", _l("Username"), ref(64), required=True),
            Rule("employee_no", _l("Employee number"), ref(20), required=True),
            Rule("name", _l("Name"), text(128), required=True),
            Rule("email", _l("Email"), cells.parse_email, required=True),
            Rule("mobile", _l("Mobile"), compact),
            Rule("role", _l("Role"), choice(role_choices()), required=True),
            Rule("branch", _l("Branch"), ref(), reference=True),
        ),
        "products": build(
            Rule("code", _l("Product code"), ref(30), required=True),
            Rule("name", _l("Name"), text(100), required=True),
            Rule("category", _l("Category"), choice(C.PRODUCT_CATEGORIES, "product_category"),
                 required=True),
            Rule("risk_level", _l("Risk level"), choice(C.RISK_LEVELS, "risk_level"),
                 required=True),
            Rule("min_amount", _l("Minimum amount"), money),
            Rule("description", _l("Description"), text(2000)),
        ),
    }


def _staff_checks(result, columns: Mapping[str, Any], today: dt.date, failed: set[str]) -> None:
    values = result.values
    mobile = values.get("mobile")
    if mobile is not None:
        problem = check_mobile(mobile)
        if problem is None:
            values["mobile"] = normalise_mobile(mobile)
        else:
            del values["mobile"]
            result.problems.append((columns["mobile"], problem))
    if "email" in values:
        values["email"] = values["email"].lower()


def _none(result, columns, today, failed) -> None:
    return None


CROSS_CHECKS = {"branches": _none, "staff": _staff_checks, "products": _none}


def split_name(name: str) -> tuple[str, str]:
    """(first name, last name) for FAB's two columns: "张三" -> ("三", "张"); "John Smith" ->
    ("John", "Smith"). A one-character name is its own last name."""
    name = " ".join(name.split())
    if " " in name:
        first, _, last = name.rpartition(" ")
        return first, last
    if len(name) == 1:
        return "", name
    return name[1:], name[0]
