"""Validating a mapped row into typed values, with every problem of the row at once.

Input is one row as field key -> raw text (``mapping.map_row``) for a kind (customers, accounts,
transactions, interactions). Output is a :class:`RowResult`: typed ``values``, the
``references`` (branch, owner, product, customer, account, staff) as trimmed text for the
database stage to resolve, the raw ``custom`` values of custom-field columns (validated by the
fields room), and ``problems``, a list of (column, message) covering every problem found.
Nothing here touches the database: reference existence is checked later.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from types import MappingProxyType
from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l

from backoffice.imports import cells, org_fields
from backoffice.imports.mapping import KINDS
from models import choices as C
from models.validators import (
    check_bank_card,
    check_customer_no,
    check_mobile,
    check_prc_id,
    check_uscc,
    normalise_customer_no,
    normalise_mobile,
    normalise_prc_id,
    prc_id_birth_date,
    prc_id_gender,
)

# Spellings seen in branch files beyond the codes and the en/zh labels of models.choices.
ALIASES: dict[str, dict[str, str]] = {
    "gender": {"男": "M", "女": "F", "男性": "M", "女性": "F", "m": "M", "f": "F"},
    "customer_type": {"个人": "individual", "对私": "individual", "personal": "individual",
                      "对公": "corporate", "企业": "corporate", "公司": "corporate",
                      "company": "corporate", "单位": "corporate"},
    "id_type": {"身份证": "PRC_ID", "居民身份证": "PRC_ID", "护照": "PASSPORT",
                "港澳通行证": "HK_MO_PERMIT", "台胞证": "TW_PERMIT",
                "统一社会信用代码": "USCC", "营业执照": "USCC"},
    "risk_tolerance": {"保守型": "C1", "谨慎型": "C2", "稳健型": "C3", "平衡型": "C3",
                       "积极型": "C4", "成长型": "C4", "激进型": "C5", "进取型": "C5",
                       "conservative": "C1", "cautious": "C2", "balanced": "C3",
                       "growth": "C4", "aggressive": "C5"},
    "customer_status": {"正常": "active", "有效": "active", "休眠": "dormant",
                        "睡眠": "dormant", "销户": "closed", "已销户": "closed",
                        "死亡": "deceased"},
    "account_status": {"正常": "open", "开户": "open", "有效": "open", "销户": "closed",
                       "已销户": "closed", "冻结": "frozen"},
    # 借 (debit) takes money out of the customer's account, 贷 (credit) puts it in.
    "direction": {"借": "out", "借方": "out", "支出": "out", "支": "out", "转出": "out",
                  "付": "out", "d": "out", "dr": "out", "debit": "out", "-": "out",
                  "贷": "in", "贷方": "in", "收入": "in", "收": "in", "转入": "in",
                  "c": "in", "cr": "in", "credit": "in", "+": "in"},
    "transaction_channel": {"柜台": "counter", "网点": "counter", "手机": "mobile",
                            "手机银行": "mobile", "app": "mobile", "网银": "online",
                            "网上银行": "online", "自助": "atm"},
    "interaction_channel": {"电话": "phone", "短信": "sms", "邮件": "email", "网点": "branch",
                            "到店": "branch", "柜面": "branch", "微信": "wechat"},
    "interaction_direction": {"呼入": "inbound", "来电": "inbound", "呼出": "outbound",
                              "去电": "outbound"},
    "topic": {"咨询": "inquiry", "投诉": "complaint", "营销": "marketing", "服务": "service",
              "贷款进度": "loan_progress", "问候": "greeting", "其他": "other"},
}


@dataclass(frozen=True)
class Rule:
    """How one field is parsed: ``parse(raw) -> (value, problem)``; reference fields stay text."""

    key: str
    label: Any
    parse: Callable[[str], tuple[Any, Any]]
    required: bool = False
    reference: bool = False
    column: Callable | None = None  # a tight-loop form of ``parse`` over a list of cells


def _text(max_length: int, multiline: bool = False) -> Callable:
    from backoffice.imports.columns import text_column

    def parse(raw):
        return cells.parse_text(raw, max_length, multiline)

    parse.column_form = text_column(max_length, multiline)
    return parse


def _choice(choices: Mapping, alias_key: str | None = None) -> Callable:
    lookup = {}

    def parse(raw):
        if not lookup:  # built on first use: reads the zh catalogue once
            lookup.update(cells.choice_lookup(choices, ALIASES.get(alias_key or "", {})))
        return cells.parse_choice(raw, choices, lookup=lookup)

    return parse


def _past_date(raw):
    value, problem = cells.parse_date(raw)
    if value is not None and (value > dt.date.today() or value.year < 1900):
        return None, _l("Date must be between 1900 and today.")
    return value, problem


def _positive_money(raw):
    value, problem = cells.parse_money(raw)
    if value is not None and value < 0:
        return None, _l("Amount must not be negative.")
    return value, problem


def _satisfaction(raw):
    value, problem = cells.parse_int(raw)
    if value is not None and not 1 <= value <= 5:
        return None, _l("Must be a whole number from 1 to 5.")
    return value, problem


def _currency(raw):
    text = cells.fold(raw).upper()
    text = {"人民币": "CNY", "RMB": "CNY", "元": "CNY"}.get(text, text)
    if not text:
        return None, None
    if not re.fullmatch(r"[A-Z]{3}", text):
        return None, _l("Currency must be a 3-letter code such as CNY.")
    return text, None


_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # 11 ASCII digits (match() with the length checked)


def _compact(raw):
    """Identifiers: half-width, spaces removed, invisible and control characters refused."""
    return cells.parse_identifier(raw)


def _compact_column(texts):
    from backoffice.imports.columns import compact_column

    return compact_column(texts)


_compact.column_form = _compact_column


def _customer_no(raw):
    """The stored form of a customer number (``models.validators``, as every writer)."""
    text = normalise_customer_no("" if raw is None else str(raw))
    if not text:
        return None, None
    problem = check_customer_no(text)
    return (None, problem) if problem is not None else (text, None)


def _customer_no_column(texts):
    from backoffice.imports.columns import customer_no_column

    return customer_no_column(texts)


_customer_no.column_form = _customer_no_column


def _email(raw):
    """An e-mail address (``cells.parse_email``)."""
    return cells.parse_email(raw)


def _email_column(texts):
    from backoffice.imports.columns import email_column

    return email_column(texts)


_email.column_form = _email_column


def _ref(max_length: int = 100) -> Callable:
    from backoffice.imports.columns import ref_column

    def parse(raw):
        return cells.parse_text(cells.fold(raw), max_length)

    parse.column_form = ref_column(max_length)
    return parse


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.key: _with_column(rule) for rule in rules}


def _with_column(rule: Rule) -> Rule:
    """Give the commonest parsers their column form (``backoffice.imports.columns``)."""
    from dataclasses import replace

    form = getattr(rule.parse, "column_form", None)
    return replace(rule, column=form) if form is not None and rule.column is None else rule


ALIASES.update(org_fields.ALIASES)

RULES: dict[str, dict[str, Rule]] = {
    "customers": _rules(
        Rule("customer_no", _l("Customer number"), _customer_no),
        # Required of a new customer only (``customers_target``): a row updating a customer
        # found by number or ID leaves an empty name as it is.
        Rule("name", _l("Name"), _text(100)),
        Rule("customer_type", _l("Customer type"), _choice(C.CUSTOMER_TYPES, "customer_type")),
        Rule("gender", _l("Gender"), _choice(C.GENDERS, "gender")),
        Rule("birth_date", _l("Birth date"), _past_date),
        Rule("id_type", _l("ID type"), _choice(C.ID_TYPES, "id_type")),
        Rule("id_number", _l("ID number"), _compact),
        Rule("mobile", _l("Mobile"), _compact),
        Rule("email", _l("Email"), _email),
        Rule("address", _l("Address"), _text(255)),
        Rule("occupation", _l("Occupation"), _text(100)),
        Rule("risk_tolerance", _l("Risk tolerance"),
             _choice(C.RISK_TOLERANCES, "risk_tolerance")),
        Rule("risk_assessed_on", _l("Risk assessed on"), _past_date),
        Rule("onboarded_on", _l("Onboarded on"), _past_date),
        Rule("branch", _l("Branch"), _ref(), reference=True),
        Rule("owner", _l("Relationship manager"), _ref(), reference=True),
        Rule("status", _l("Status"), _choice(C.CUSTOMER_STATUSES, "customer_status")),
        Rule("consent_sms", _l("SMS consent"), cells.parse_bool),
        Rule("consent_email", _l("Email consent"), cells.parse_bool),
        Rule("consent_phone", _l("Phone consent"), cells.parse_bool),
        Rule("consent_wechat", _l("WeChat consent"), cells.parse_bool),
        Rule("flag_elderly", _l("Elderly"), cells.parse_bool),
        Rule("flag_disability", _l("Disability"), cells.parse_bool),
        Rule("flag_vip", _l("VIP"), cells.parse_bool),
        Rule("service_notes", _l("Service notes"), _text(2000, multiline=True)),
    ),
    "accounts": _rules(
        Rule("account_no", _l("Account number"), _compact, required=True),
        Rule("customer", _l("Customer"), _ref(64), required=True, reference=True),
        Rule("product", _l("Product"), _ref(), required=True, reference=True),
        Rule("balance", _l("Balance"), _positive_money),
        Rule("currency", _l("Currency"), _currency),
        Rule("opened_on", _l("Opened on"), _past_date, required=True),
        Rule("closed_on", _l("Closed on"), _past_date),
        Rule("status", _l("Status"), _choice(C.ACCOUNT_STATUSES, "account_status")),
    ),
    "transactions": _rules(
        Rule("account", _l("Account number"), _compact, required=True, reference=True),
        Rule("occurred_at", _l("Time"), cells.parse_datetime, required=True),
        Rule("amount", _l("Amount"), cells.parse_money, required=True),
        Rule("direction", _l("Direction"), _choice(C.DIRECTIONS, "direction")),
        Rule("channel", _l("Channel"), _choice(C.TRANSACTION_CHANNELS, "transaction_channel"),
             required=True),
        Rule("type", _l("Type"), _choice(C.TRANSACTION_TYPES), required=True),
        Rule("counterparty", _l("Counterparty"), _text(100)),
        Rule("description", _l("Description"), _text(255)),
    ),
    "interactions": _rules(
        Rule("customer", _l("Customer"), _ref(64), required=True, reference=True),
        Rule("staff", _l("Staff"), _ref(), reference=True),
        Rule("occurred_at", _l("Time"), cells.parse_datetime, required=True),
        Rule("channel", _l("Channel"), _choice(C.INTERACTION_CHANNELS, "interaction_channel"),
             required=True),
        Rule("direction", _l("Direction"),
             _choice(C.INTERACTION_DIRECTIONS, "interaction_direction")),
        Rule("topic", _l("Topic"), _choice(C.INTERACTION_TOPICS, "topic"), required=True),
        Rule("summary", _l("Summary"), _text(4000, multiline=True), required=True),
        Rule("satisfaction", _l("Satisfaction"), _satisfaction),
        Rule("complaint", _l("Complaint"), cells.parse_bool),
    ),
    # Branches, staff and products: a bank's first day (backoffice.imports.org_fields).
    **org_fields.rules(Rule, _rules, _text, _ref, _choice, _compact, _positive_money),
}

REQUIRED = _l("A value is required.")
_LABELS = {kind: {key: rule.label for key, rule in rules.items()}
           for kind, rules in RULES.items()}
_REQUIRED = {kind: tuple(key for key, rule in rules.items() if rule.required)
             for kind, rules in RULES.items()}


@dataclass
class RowResult:
    """One validated row."""

    row: int
    values: dict[str, Any] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, Any]] = field(default_factory=list)  # (column, lazy message)
    # What was accepted but changed on the way (gender taken from the ID number): the row is
    # written, and the batch says how many rows were changed so and why.
    warnings: list[tuple[str, Any]] = field(default_factory=list)
    prepared: Any = None  # a target's work done ahead of planning (customers_target.Sealed)

    @property
    def ok(self) -> bool:
        return not self.problems

    def messages(self) -> list:
        """One translatable line per problem: "Row 12, 手机号: Mobile number must be ...\"."""
        return [row_message(self.row, column, problem) for column, problem in self.problems]


def row_message(row: int, column: str, problem) -> Any:
    """The one message id for every row problem, parameterised."""
    return _l("Row %(row)s, %(column)s: %(problem)s", row=row, column=column, problem=problem)


class FileDuplicates:
    """Remembers the identifying values seen so far in one file, across chunks.

    Customers are identified by customer number and by ID number, accounts by account number;
    the second row carrying a value gets a problem naming the first row.

    Memory stays small for a million-row file: a value is remembered by its 64-bit hash
    (Python's keyed SipHash of the upper-cased text: one pass lives in one process) with the
    first row number. Recent values sit in a dict; every ``MERGE_AT`` values they move into
    two sorted numpy arrays (16 bytes a value instead of about 100 in a dict), which a chunk
    searches at once (:meth:`check_chunk`). Two different values sharing a hash (odds about
    1 in 10^7 for a million rows) would flag a false duplicate, which the row's message makes
    visible.
    """

    KEYS: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType(
        {"customers": ("customer_no", "id_number"), "accounts": ("account_no",)})
    MERGE_AT = 100_000

    def __init__(self) -> None:
        self._seen: dict[str, dict[int, int]] = {}
        self._sorted: dict[str, tuple] = {}  # key -> (sorted hashes, their first rows)

    def check(self, kind: str, result: RowResult, columns: Mapping[str, str]) -> None:
        self.check_chunk(kind, [result], columns)

    def check_chunk(self, kind: str, results: list[RowResult],
                    columns: Mapping[str, str]) -> None:
        """Check ``results`` (in file order) against the rows before them."""
        for key in self.KEYS.get(kind, ()):
            given = [(result, value) for result in results
                     if (value := result.values.get(key)) is not None]
            if not given:
                continue
            header = columns.get(key, key)
            digests = map(hash, map(str.upper, map(str, [value for _, value in given])))
            firsts = self.first_rows(key, list(zip(digests, [r.row for r, _ in given])))
            for (result, _), first in zip(given, firsts):
                if first != result.row:
                    result.problems.append((header, _l(
                        "Same value as row %(first)s of this file.", first=first)))

    def first_rows(self, key: str, claims: list[tuple[int, int]]) -> list[int]:
        """For each ``(digest, row)`` in file order, the first row that claimed the digest
        under ``key`` (the row itself when it is the first); the claims are remembered."""
        recent = self._seen.setdefault(key, {})
        digests = [digest for digest, _ in claims]
        earlier = self._earlier(key, digests)
        if earlier.count(None) == len(earlier):  # nothing among the merged values
            # The chunk's first row of each value (the reversed pairs leave the first one),
            # taken at once when no value was seen before: the usual chunk.
            mine = dict(zip(reversed(digests), reversed([row for _, row in claims])))
            if recent.keys().isdisjoint(mine):
                recent.update(mine)
                firsts = list(map(mine.__getitem__, digests))
                if len(recent) >= self.MERGE_AT:
                    self._merge(key)
                return firsts
        firsts = [before if before is not None else recent.setdefault(digest, row)
                  for (digest, row), before in zip(claims, earlier)]
        if len(recent) >= self.MERGE_AT:
            self._merge(key)
        return firsts

    def _earlier(self, key: str, digests: list[int]) -> list:
        """The first row of each digest among the merged values, or None."""
        merged = self._sorted.get(key)
        if merged is None:
            return [None] * len(digests)
        import numpy as np

        hashes, rows = merged
        wanted = np.array(digests, dtype=np.int64)
        at = np.minimum(np.searchsorted(hashes, wanted), len(hashes) - 1)
        found = hashes[at] == wanted
        firsts = rows[at].tolist()
        return [first if hit else None for first, hit in zip(firsts, found.tolist())]

    def _merge(self, key: str) -> None:
        import numpy as np

        recent = self._seen[key]
        hashes = np.fromiter(recent.keys(), dtype=np.int64, count=len(recent))
        rows = np.fromiter(recent.values(), dtype=np.int64, count=len(recent))
        if key in self._sorted:
            old_hashes, old_rows = self._sorted[key]
            hashes, rows = np.concatenate([old_hashes, hashes]), np.concatenate([old_rows, rows])
        order = np.argsort(hashes, kind="stable")
        self._sorted[key] = (hashes[order], rows[order])
        recent.clear()


def validate_row(kind: str, row: int, raw: Mapping[str, str],
                 columns: Mapping[str, str] | None = None,
                 duplicates: FileDuplicates | None = None,
                 today: dt.date | None = None) -> RowResult:
    """Validate ``raw`` (field key -> text) of spreadsheet row ``row``.

    ``columns`` maps field key -> the header the user sees, used in the messages (defaults to
    the field key). Keys that are not fields of ``kind`` are custom-field values, kept raw.
    """
    if kind not in RULES:
        raise ValueError(f"unknown import kind {kind!r}")
    return _validate(kind, row, raw, _headers(kind, columns), duplicates,
                     today or dt.date.today())


def _headers(kind: str, columns: Mapping[str, str] | None) -> Mapping[str, Any]:
    # Default column names are the lazy field labels: rendered in the reader's language.
    return {**_LABELS[kind], **columns} if columns else _LABELS[kind]


def _validate(kind: str, row: int, raw: Mapping[str, str], columns: Mapping[str, Any],
              duplicates: FileDuplicates | None, today: dt.date) -> RowResult:
    rules = RULES[kind]
    result = RowResult(row)
    failed: set[str] = set()
    for key, text in raw.items():
        rule = rules.get(key)
        if rule is None:
            if text is not None and str(text).strip():
                result.custom[key] = str(text).strip()
            continue
        try:
            value, problem = rule.parse(text)
        except Exception:  # noqa: BLE001 - a parser must never stop a batch
            value, problem = None, _l("The value could not be read.")
        if problem is not None:
            failed.add(key)
            result.problems.append((columns[key], problem))
        elif value is not None:
            (result.references if rule.reference else result.values)[key] = value
    for key in _REQUIRED[kind]:
        if key not in result.values and key not in result.references and key not in failed:
            result.problems.append((columns[key], REQUIRED))
    CROSS_CHECKS[kind](result, columns, today, failed)
    if duplicates is not None:
        duplicates.check(kind, result, columns)
    # Problems in the order of the file's columns, then the missing required fields.
    if len(result.problems) > 1:
        order = {id(columns[key]): index for index, key in enumerate([*raw, *rules])
                 if key in columns}
        result.problems.sort(key=lambda problem: order.get(id(problem[0]), len(order)))
    return result


def validate_chunk(kind: str, chunk: Iterable, mapping: Mapping[str, str],
                   duplicates: FileDuplicates | None = None) -> list[RowResult]:
    """Validate reader rows (``RawRow``) with a header -> key ``mapping``.

    The same results as :func:`validate_row` row by row (``tests/imports/test_columns.py``
    checks it), computed a column at a time: each column is parsed in one loop (once per
    distinct value when it repeats), then the rows are assembled, cross-checked and checked for
    duplicates inside the file.
    """
    from backoffice.imports.columns import PrcIds, parse_column

    if kind not in RULES:
        raise ValueError(f"unknown import kind {kind!r}")
    if not mapping:  # every column unmapped: a pass would "import" rows of nothing
        from backoffice.imports.mapping import MappingResult, require_recognised

        require_recognised(MappingResult(kind, {}, []), kind)
    rules = RULES[kind]
    columns = _headers(kind, {key: header for header, key in mapping.items()})
    today = dt.date.today()
    chunk = list(chunk)
    header_of = {key: header for header, key in mapping.items()}  # map_row's key order
    keys = list(header_of)
    parsed, custom = [], []
    cells_of = [raw_row.values for raw_row in chunk]
    for key in keys:
        header = header_of[key]
        try:  # the reader gives every row every header: one C-level pass a column
            texts = list(map(itemgetter(header), cells_of))
        except KeyError:
            texts = [row_cells.get(header, "") for row_cells in cells_of]
        rule = rules.get(key)
        if rule is None:
            custom.append((key, texts))
        else:
            parsed.append((key, rule.reference, parse_column(rule.parse, texts, rule.column)))
    order = {id(columns[key]): index for index, key in enumerate([*keys, *rules])
             if key in columns}
    required = _REQUIRED[kind]
    cross = CROSS_CHECKS[kind]
    extra = {}
    if kind == "customers":
        ids = PrcIds([value.upper() for key, _, cells_ in parsed if key == "id_number"
                      for value, problem in cells_ if value is not None], today)
        extra = {"ids": ids, "genders": gender_rule()}
    results, clean = _assemble(chunk, parsed)
    failures: list[set | None] = [None] * len(results)
    for key, reference, cells_ in parsed:
        if key in clean:
            continue
        header = columns[key]
        for index, (value, problem) in enumerate(cells_):
            if problem is not None:
                if failures[index] is None:
                    failures[index] = set()
                failures[index].add(key)
                results[index].problems.append((header, problem))
            elif value is not None:
                result = results[index]
                (result.references if reference else result.values)[key] = value
    for index, result in enumerate(results):
        for key, texts in custom:
            text = texts[index]
            if text is not None and str(text).strip():
                result.custom[key] = str(text).strip()
        failed = failures[index] or _NONE_FAILED
        values, references = result.values, result.references
        for key in required:
            if key not in values and key not in references and key not in failed:
                result.problems.append((columns[key], REQUIRED))
        cross(result, columns, today, failed, **extra)
    if duplicates is not None:
        duplicates.check_chunk(kind, results, columns)
    for result in results:
        if len(result.problems) > 1:
            result.problems.sort(key=lambda problem: order.get(id(problem[0]), len(order)))
    return results


_NONE_FAILED = frozenset()  # what the cross checks see of a row without a failed cell


def _clean(cells_: list) -> bool:
    """Whether a parsed column has a value and no problem in every cell."""
    return list(map(itemgetter(1), cells_)).count(None) == len(cells_) \
        and list(map(itemgetter(0), cells_)).count(None) == 0


def _assemble(chunk: list, parsed: list) -> tuple[list[RowResult], set[str]]:
    """The chunk's rows with the values of its clean columns (every cell parsed, none
    empty: the usual column) in place, each row's dicts built by one ``dict(zip(...))``, and
    the keys of those columns; the caller fills in the other columns cell by cell."""
    values_keys, values_cols, ref_keys, ref_cols = [], [], [], []
    clean = set()
    for key, reference, cells_ in parsed:
        if _clean(cells_):
            clean.add(key)
            (ref_keys if reference else values_keys).append(key)
            (ref_cols if reference else values_cols).append(list(map(itemgetter(0), cells_)))
    count = len(chunk)
    values_of = [dict(zip(values_keys, row)) for row in zip(*values_cols)] if values_cols \
        else [{} for _ in range(count)]
    refs_of = [dict(zip(ref_keys, row)) for row in zip(*ref_cols)] if ref_cols \
        else [{} for _ in range(count)]
    return [RowResult(raw_row.number, values, references)
            for raw_row, values, references in zip(chunk, values_of, refs_of)], clean


# --- cross-field checks ------------------------------------------------------------------------


GENDER_RULES = ("refuse", "from_id")
GENDER_MISMATCH = _l("ID number does not agree with the gender given.")
EXCEL_NUMBER = _l("The ID number was stored by Excel as a number and lost its last digits; "
                  "format the column as text and export again.")
GENDER_FROM_ID = _l("The gender given disagrees with the ID number; the ID number's gender "
                    "was taken.")
_SCIENTIFIC = re.compile(r"^\d+(\.\d+)?E\+?\d+$", re.IGNORECASE)


def gender_rule() -> str:
    """``CRM_IMPORT_GENDER_RULE``: what a row whose gender disagrees with its ID number's 17th
    digit gets: "refuse" (the row is rejected) or "from_id" (the ID's gender is taken and the
    row is counted as warned). The app's value, else the declared default."""
    from flask import current_app, has_app_context

    from config.settings import BaseConfig

    rule = current_app.config.get("CRM_IMPORT_GENDER_RULE", BaseConfig.CRM_IMPORT_GENDER_RULE) \
        if has_app_context() else BaseConfig.CRM_IMPORT_GENDER_RULE
    return rule if rule in GENDER_RULES else "refuse"


def take_gender_from_id(result: RowResult, column) -> None:
    """The "from_id" rule: the ID number's gender replaces the one given, with a warning."""
    result.values["gender"] = prc_id_gender(result.values["id_number"])
    result.warnings.append((column, GENDER_FROM_ID))


def apply_gender_rule(results: list[RowResult], rule: str, column) -> None:
    """Apply ``rule`` to rows validated without it (the reading thread has no app, so it
    refused): under "from_id" a row refused only for its gender takes the ID's instead."""
    if rule != "from_id":
        return
    for result in results:
        found = [p for p in result.problems if p[1] is GENDER_MISMATCH]
        if found and "id_number" in result.values:
            result.problems.remove(found[0])
            take_gender_from_id(result, column)


def excel_mangled_id(number: str) -> bool:
    """Whether an ID number is what Excel makes of one it stored as a number: scientific
    notation (``1.10101E+17``), or 18 digits whose last three are the zeros Excel's 15
    significant digits leave (only asked of a number that failed its check)."""
    return bool(_SCIENTIFIC.match(number)) or (
        len(number) == 18 and number.isdigit() and number.endswith("000"))


def _customer_checks(result: RowResult, columns: Mapping[str, Any], today: dt.date,
                     failed: set[str], ids=None, genders: str | None = None) -> None:
    values = result.values
    corporate = values.get("customer_type") == "corporate"
    id_type = values.get("id_type") or ("USCC" if corporate else "PRC_ID")
    number = values.get("id_number")
    if number is not None:
        values["id_type"] = id_type
        if id_type == "PRC_ID" and not number.isdigit() and _SCIENTIFIC.match(number):
            problem = EXCEL_NUMBER
        elif id_type == "PRC_ID":
            if ids is not None:  # the chunk's check digits, computed at once
                number = normalise_prc_id(number) if not number.isalnum() else number.upper()
                problem = ids.check(number, values.get("birth_date"), today)
            else:
                problem = check_prc_id(number, values.get("birth_date"), today=today)
            if problem is None:
                number = normalise_prc_id(number) if ids is None else number
                values["id_number"] = number
                if "gender" not in values:
                    values["gender"] = prc_id_gender(number)
                elif values["gender"] != prc_id_gender(number):
                    if (genders or gender_rule()) == "from_id":
                        take_gender_from_id(result, columns["gender"])
                    else:  # the number itself is sound: kept, for the target's second look
                        result.problems.append((columns["id_number"], GENDER_MISMATCH))
                if "birth_date" not in values:
                    values["birth_date"] = prc_id_birth_date(number) if ids is None \
                        else ids.birth_date(number)
            elif excel_mangled_id(number):
                problem = EXCEL_NUMBER
        elif id_type == "USCC":
            problem = check_uscc(number)
            values["id_number"] = number.upper()
        else:
            problem = None if 5 <= len(number) <= 32 else _l(
                "Document number must be 5 to 32 characters.")
        if problem is not None:
            del values["id_number"]
            result.problems.append((columns["id_number"], problem))
    mobile = values.get("mobile")
    if mobile is not None and len(mobile) == 11 and _MOBILE.match(mobile):
        pass  # the usual form: valid and normal already
    elif mobile is not None:
        problem = check_mobile(values["mobile"])
        if problem is None:
            values["mobile"] = normalise_mobile(values["mobile"])
        else:
            del values["mobile"]
            result.problems.append((columns["mobile"], problem))


def _account_checks(result: RowResult, columns: Mapping[str, Any], today: dt.date,
                    failed: set[str]) -> None:
    values = result.values
    number = values.get("account_no")
    if number is not None:
        problem = None
        if not number.isdigit() or not 8 <= len(number) <= 32:
            problem = _l("Account number must be 8 to 32 digits.")
        elif 16 <= len(number) <= 19 and number[0] in "3456":
            problem = check_bank_card(number)  # a card number: Luhn applies
        if problem is not None:
            del values["account_no"]
            result.problems.append((columns["account_no"], problem))
    opened, closed = values.get("opened_on"), values.get("closed_on")
    if opened and closed and closed < opened:
        result.problems.append((columns["closed_on"],
                                _l("Closing date is before the opening date.")))


def _transaction_checks(result: RowResult, columns: Mapping[str, Any], today: dt.date,
                        failed: set[str]) -> None:
    values = result.values
    amount = values.get("amount")
    if amount is not None:
        if amount < 0 and "direction" not in values:
            values["amount"], values["direction"] = -amount, "out"
        elif amount <= 0:
            del values["amount"]
            result.problems.append((columns["amount"], _l(
                "Amount must be greater than zero (give the direction in its own column).")))
    if "direction" not in values and "direction" not in failed and "amount" in values:
        result.problems.append((columns["direction"], REQUIRED))


def _no_checks(result: RowResult, columns: Mapping[str, Any], today: dt.date,
               failed: set[str]) -> None:
    return None


CROSS_CHECKS = {"customers": _customer_checks, "accounts": _account_checks,
                "transactions": _transaction_checks, "interactions": _no_checks,
                **org_fields.CROSS_CHECKS}
assert set(CROSS_CHECKS) == set(KINDS) == set(RULES)
