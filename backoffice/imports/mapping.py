"""Matching spreadsheet headers to fields, and guessing the type of the columns that match none.

Headers are compared in a folded form (full-width to half-width, case, spaces, punctuation and
underscores removed), so ``客户 姓名``, ``Customer_Name`` and ``customer name`` are one label.
Extra ``label -> key`` pairs (the custom field labels) are matched the same way. A column that
matches nothing is returned in ``unmatched`` with an inferred type and never dropped: the upload
screen offers to create a custom field for it. A mapping template is a plain dict
``{"kind": ..., "columns": {header: key}}``, stored later in the database.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from backoffice.imports import cells, org_fields
from models.validators import check_mobile, check_prc_id

KINDS = ("customers", "accounts", "transactions", "interactions") + org_fields.ORG_KINDS

# field key -> synonyms (the key itself and its spaced form always match too).
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {
        "customer_no": ("客户号", "客户编号", "客户代码", "客户号码", "客户ID", "customer number",
                        "customer no", "cust no", "customer id", "client id"),
        "name": ("姓名", "客户姓名", "客户名称", "名称", "户名", "name", "customer name",
                 "full name", "surname"),
        "customer_type": ("客户类型", "客户类别", "个人/对公", "customer type", "type"),
        "gender": ("性别", "gender", "sex"),
        "birth_date": ("出生日期", "生日", "出生年月日", "birth date", "date of birth", "birthday",
                       "dob"),
        "id_type": ("证件类型", "id type", "document type"),
        "id_number": ("身份证号", "身份证号码", "证件号码", "证件号", "身份证", "统一社会信用代码",
                      "id number", "id no", "id card", "identity number", "document number",
                      "uscc"),
        "mobile": ("手机号", "手机号码", "手机", "联系电话", "电话", "移动电话", "mobile",
                   "phone", "mobile number", "phone number", "cell phone", "telephone"),
        "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail", "mail"),
        "address": ("地址", "联系地址", "住址", "家庭住址", "通讯地址", "address"),
        "occupation": ("职业", "工作", "occupation", "job", "profession"),
        "risk_tolerance": ("风险等级", "风险承受能力", "风险承受等级", "风险评级",
                           "risk tolerance", "risk level", "risk rating"),
        "risk_assessed_on": ("风险评估日期", "评估日期", "risk assessed on",
                             "risk assessment date"),
        "onboarded_on": ("开户日期", "入行日期", "建档日期", "onboarded", "onboarded on",
                         "onboarding date", "customer since"),
        "branch": ("支行", "所属支行", "网点", "开户网点", "机构", "branch", "branch code",
                   "branch name"),
        "owner": ("客户经理", "归属客户经理", "管户经理", "owner", "relationship manager",
                  "rm", "manager"),
        "status": ("状态", "客户状态", "status"),
        "consent_sms": ("短信营销同意", "同意短信", "sms consent", "consent sms"),
        "consent_email": ("邮件营销同意", "同意邮件", "email consent", "consent email"),
        "consent_phone": ("电话营销同意", "同意电话", "phone consent", "consent phone"),
        "consent_wechat": ("微信营销同意", "同意微信", "wechat consent", "consent wechat"),
        "flag_elderly": ("老年客户", "elderly"),
        "flag_disability": ("残障客户", "disability"),
        "flag_vip": ("贵宾", "vip"),
        "service_notes": ("服务备注", "备注", "service notes", "notes", "remarks"),
    },
    "accounts": {
        "account_no": ("账号", "帐号", "账户号", "卡号", "账户号码", "account number",
                       "account no", "card number", "account"),
        "customer": ("客户号", "客户编号", "客户ID", "customer number", "customer no",
                     "customer id", "customer"),
        "product": ("产品", "产品代码", "产品编号", "product", "product code"),
        "balance": ("余额", "账户余额", "当前余额", "balance"),
        "currency": ("币种", "货币", "currency"),
        "opened_on": ("开户日期", "开立日期", "opened", "opened on", "open date"),
        "closed_on": ("销户日期", "closed", "closed on", "close date"),
        "status": ("状态", "账户状态", "status"),
    },
    "transactions": {
        "account": ("账号", "帐号", "卡号", "交易账号", "account number", "account no",
                    "account"),
        "occurred_at": ("交易时间", "交易日期", "时间", "日期", "transaction time",
                        "occurred at", "time", "date"),
        "amount": ("金额", "交易金额", "发生额", "amount"),
        "direction": ("方向", "借贷", "借贷标志", "借贷方向", "收支", "收支方向", "direction",
                      "debit credit", "dr cr"),
        "channel": ("渠道", "交易渠道", "channel"),
        "type": ("类型", "交易类型", "type", "transaction type"),
        "counterparty": ("对方户名", "对方", "交易对手", "counterparty"),
        "description": ("摘要", "附言", "用途", "备注", "description", "memo"),
    },
    "interactions": {
        "customer": ("客户号", "客户编号", "客户ID", "customer number", "customer no",
                     "customer id", "customer"),
        "staff": ("员工", "经办人", "客户经理", "staff", "handled by"),
        "occurred_at": ("时间", "日期", "联系时间", "接触时间", "occurred at", "time", "date"),
        "channel": ("渠道", "联系渠道", "channel"),
        "direction": ("方向", "呼入呼出", "direction"),
        "topic": ("主题", "事由", "类别", "topic"),
        "summary": ("摘要", "内容", "记录", "summary", "content", "notes"),
        "satisfaction": ("满意度", "满意度评分", "satisfaction", "csat"),
        "complaint": ("投诉", "是否投诉", "complaint"),
    },
}

SYNONYMS.update(org_fields.SYNONYMS)

_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalise_label(label: str) -> str:
    """The comparison form of a header: NFKC, case-folded, without spaces and punctuation."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", str(label or "")).casefold())


def synonym_index(kind: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """normalised label -> field key for ``kind``; built-in synonyms win over ``extra``."""
    if kind not in SYNONYMS:
        raise ValueError(f"unknown import kind {kind!r}")
    index: dict[str, str] = {}
    for key, words in SYNONYMS[kind].items():
        for word in (key, *words):
            index.setdefault(normalise_label(word), key)
    for label, key in (extra or {}).items():
        index.setdefault(normalise_label(label), key)
    return index


@functools.lru_cache(maxsize=1)
def _known_labels() -> frozenset[str]:
    return frozenset(label for kind in SYNONYMS for label in synonym_index(kind))


def header_matches(cells: Iterable[str]) -> tuple[int, int]:
    """``(cells that are known headers of any kind, filled cells)`` of a row: how much it reads
    as a header. The reader knows neither the kind nor the custom fields, so it asks this."""
    known = _known_labels()
    filled = matched = 0
    for cell in cells:
        if not cell or not cell.strip():
            continue
        filled += 1
        if normalise_label(cell) in known:
            matched += 1
    return matched, filled


def is_header_row(cells: Iterable[str]) -> bool:
    """Whether a row surely is a header: two of its cells are known headers, or every filled
    cell is one (a file of one column)."""
    matched, filled = header_matches(cells)
    return matched >= 2 or (matched >= 1 and matched == filled)


def expected_headers(kind: str) -> list[str]:
    """The headers a person would write for ``kind``: each field's first Chinese synonym and
    its English name, for the message that refuses a file whose columns match nothing."""
    shown = []
    for key, words in SYNONYMS[kind].items():
        chinese = next((w for w in words if not w.isascii()), None)
        english = key.replace("_", " ")
        shown.append(f"{chinese} / {english}" if chinese else english)
    return shown


def require_recognised(result: "MappingResult", kind: str) -> None:
    """Refuse a file in which no column matches a field (a wrong file, or the header row is
    not where the reader looked): importing it would only make rows of nothing."""
    if result.columns:
        return
    from flask_babel import lazy_gettext as _l

    from backoffice.imports.reading import ImportFileError

    raise ImportFileError(_l(
        "No column of the file is a known header, so nothing in it can be imported. Expected "
        "headers such as: %(headers)s.", headers="; ".join(expected_headers(kind))))


@dataclass
class UnmatchedColumn:
    """A column that matches no field: its inferred type and a few sample values."""

    header: str
    inferred_type: str
    choices: list[str] = field(default_factory=list)  # the distinct values, for "choice"
    duplicate_of: str | None = None  # the field another column already took


@dataclass
class MappingResult:
    """header -> field key for the matched columns, and every other column."""

    kind: str
    columns: dict[str, str]
    unmatched: list[UnmatchedColumn]

    def template(self, name: str = "") -> dict:
        """The plain dict that a saved mapping template holds."""
        return {"name": name, "kind": self.kind, "columns": dict(self.columns)}


def auto_map(headers: Iterable[str], kind: str, extra_labels: Mapping[str, str] | None = None,
             sample_rows: Iterable[Mapping[str, str]] = ()) -> MappingResult:
    """Match each header to a field of ``kind``; infer types of the rest from ``sample_rows``.

    A field is taken by the first column that matches it; a later column matching the same
    field comes back unmatched with ``duplicate_of`` set, so the screen can ask which one.
    """
    index = synonym_index(kind, extra_labels)
    headers = list(headers)
    columns: dict[str, str] = {}
    taken: dict[str, str] = {}
    leftovers: list[tuple[str, str | None]] = []
    for header in headers:
        key = index.get(normalise_label(header))
        if key is not None and key not in taken:
            columns[header] = key
            taken[key] = header
        else:
            leftovers.append((header, key))
    samples = list(sample_rows)
    unmatched = []
    for header, duplicate in leftovers:
        values = [row.get(header, "") for row in samples]
        inferred, choices = infer_type(values)
        unmatched.append(UnmatchedColumn(header, inferred, choices, duplicate))
    return MappingResult(kind, columns, unmatched)


def apply_template(headers: Iterable[str], template: Mapping) -> MappingResult:
    """A saved template applied to a file's headers; headers it does not name come back
    unmatched (type unknown until sampled: "text")."""
    wanted = {normalise_label(h): key for h, key in (template.get("columns") or {}).items()}
    columns, unmatched = {}, []
    for header in headers:
        key = wanted.get(normalise_label(header))
        if key and key not in columns.values():
            columns[header] = key
        else:
            unmatched.append(UnmatchedColumn(header, "text"))
    return MappingResult(template.get("kind", ""), columns, unmatched)


def map_row(values: Mapping[str, str], columns: Mapping[str, str]) -> dict[str, str]:
    """A raw row (header -> text) as field key -> text, for the mapped columns only."""
    return {key: values.get(header, "") for header, key in columns.items()}


# --- type inference ------------------------------------------------------------------------------

CHOICE_MAX_DISTINCT = 12
LONG_TEXT = 200
SAMPLE_SIZE = 1000


def _all(values: list[str], parser) -> bool:
    for value in values:
        parsed, problem = parser(value)
        if problem is not None or parsed is None:
            return False
    return True


def infer_type(values: Iterable[str]) -> tuple[str, list[str]]:
    """(type, choices) for a column from its values (the first :data:`SAMPLE_SIZE` non-empty).

    Types: integer, decimal, money, date, boolean, choice, email, mobile, prc_id, text,
    long_text. Numbers are never taken for Excel serial dates here (a score of 619 is not a
    day in 1901); 0/1 columns are booleans.
    """
    sample: list[str] = []
    for value in values:
        text = cells.fold(value)
        if text:
            sample.append(text)
            if len(sample) >= SAMPLE_SIZE:
                break
    if not sample:
        return "text", []
    distinct = sorted(set(sample))
    folded = {v.casefold() for v in distinct}
    if folded <= cells.TRUE_WORDS | cells.FALSE_WORDS:
        return "boolean", []
    if all(check_prc_id(v) is None for v in distinct[:200]):
        return "prc_id", []
    if all(check_mobile(v) is None for v in distinct[:200]):
        return "mobile", []
    if _all(distinct, cells.parse_email):
        return "email", []
    if all(not v.isdigit() or len(v) == 8 for v in distinct) and \
            _all(distinct, lambda v: cells.parse_date(v, allow_serial=False)):
        return "date", []
    if _all(distinct, cells.parse_int):
        return "integer", []
    if _all(distinct, cells.parse_decimal):
        places = [len(v.rpartition(".")[2]) if "." in v else 0 for v in distinct]
        return ("money" if max(places) <= 2 else "decimal"), []
    if _all(distinct, cells.parse_money):
        return "money", []
    if len(distinct) <= CHOICE_MAX_DISTINCT and len(distinct) * 2 <= len(sample):
        return "choice", distinct
    if any(len(v) > LONG_TEXT or "\n" in v for v in distinct):
        return "long_text", []
    return "text", []
