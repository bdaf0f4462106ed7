"""Parsers for the cell forms that branch spreadsheets really hold.

Every parser takes the raw string a person typed (or the reader rendered from an XLSX cell) and
returns ``(value, problem)``: ``(None, None)`` for an empty cell (whether it may be empty is the
row rules' business), ``(value, None)`` when it parsed, ``(None, message)`` when it did not.
They never raise, so one bad cell can never stop a batch; the messages are lazy (translatable)
and carry no cell value, because they end up in logs and error reports.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l

from models.validators import MONEY_LIMIT, check_clean_text, ordinary_number


def _never_raises(parser):
    """A parser bug must cost one cell, never the batch: report it as a problem."""

    @functools.wraps(parser)
    def wrapper(*args, **kwargs):
        try:
            return parser(*args, **kwargs)
        except Exception:  # noqa: BLE001
            return None, _l("The value could not be read.")

    return wrapper


# --- text ----------------------------------------------------------------------------------------

# NFKC folds full-width digits, letters and punctuation (１２３，４５６．７８ -> 123,456.78) but
# leaves the ideographic full stop and the Chinese currency/unit characters alone.
_EXTRA_FOLD = str.maketrans({"。": ".", "−": "-", "—": "-", "、": ",", "\u00a0": " ",
                             "\u3000": " "})


def fold(raw: Any) -> str:
    """Half-width, trimmed text: the common first step of every parser."""
    if raw is None:
        return ""
    if type(raw) is str and raw.isascii():  # the common case: nothing to fold
        return raw.strip()
    try:
        text = unicodedata.normalize("NFKC", str(raw))
    except Exception:  # noqa: BLE001 - a broken __str__: treat as empty, never raise
        return ""
    return text.translate(_EXTRA_FOLD).strip()


@_never_raises
def parse_text(raw: Any, max_length: int | None = None, multiline: bool = False):
    """Trimmed text (original width kept: names are not folded), limited to ``max_length``,
    without invisible or control characters (``multiline``: tabs and line breaks allowed)."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None, None
    if max_length is not None and len(text) > max_length:
        return None, _l("Longer than %(max)s characters.", max=max_length)
    problem = check_clean_text(text, allow_breaks=multiline)
    if problem is not None:
        return None, problem
    return text, None


@_never_raises
def parse_identifier(raw: Any, max_length: int | None = None):
    """An identifier (ID, mobile, account, product or customer number): full-width forms
    folded, every space removed; an invisible or control character is refused, never
    silently dropped (it may be what makes two look-alike numbers differ)."""
    text = "" if raw is None else str(raw)
    problem = check_clean_text(text.strip(), allow_breaks=False)
    if problem is not None:
        return None, problem
    text = _SPACES_ANY.sub("", fold(text))
    if not text:
        return None, None
    if max_length is not None and len(text) > max_length:
        return None, _l("Longer than %(max)s characters.", max=max_length)
    return text, None


_SPACES_ANY = re.compile(r"\s+")


# --- numbers -------------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_GROUPED_NUMBER = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_CURRENCY_PREFIXES = ("人民币", "RMB", "CNY", "¥", "￥")
_CURRENCY_SUFFIXES = ("人民币", "元", "RMB", "CNY")


def _number(text: str) -> Decimal | None:
    """A Decimal from plain or thousands-grouped digits, or None."""
    text = text.replace(" ", "")
    if _GROUPED_NUMBER.match(text):
        text = text.replace(",", "")
    elif not _PLAIN_NUMBER.match(text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if ordinary_number(value) else None


@_never_raises
def parse_int(raw: Any):
    """An integer; ``1,234`` and ``3.0`` (what a float column exports) are accepted."""
    text = fold(raw)
    if not text:
        return None, None
    value = _number(text)
    if value is None or value != value.to_integral_value() or abs(value) >= Decimal(10) ** 18:
        return None, _l("Not a whole number.")
    return int(value), None


@_never_raises
def parse_decimal(raw: Any):
    """A decimal number with optional thousands separators (no currency)."""
    text = fold(raw)
    if not text:
        return None, None
    value = _number(text)
    if value is None or abs(value) >= Decimal(10) ** 18:
        return None, _l("Not a number.")
    return value, None


@_never_raises
def parse_money(raw: Any):
    """An amount in yuan: ``¥1,234.50``, ``1234.5元``, ``CNY 10``, ``(500.00)``, full-width digits.

    More than two decimals is a problem, except floating-point noise from a spreadsheet
    (``1234.5600000000001``), which is rounded away.
    """
    text = fold(raw)
    if not text:
        return None, None
    negative = signed = False
    if len(text) > 1 and text.startswith("(") and text.endswith(")"):
        negative, signed, text = True, True, text[1:-1].strip()
    if text[:1] and text[0] in "+-":
        negative, signed, text = negative != (text[0] == "-"), True, text[1:].strip()
    upper = text.upper()
    for prefix in _CURRENCY_PREFIXES:
        if upper.startswith(prefix):
            text = text[len(prefix):].strip()
            upper = text.upper()
            break
    for suffix in _CURRENCY_SUFFIXES:
        if upper.endswith(suffix):
            text = text[: -len(suffix)].strip()
            break
    if text[:1] and text[0] in "+-" and not signed:  # ¥-12.00
        negative, text = text[0] == "-", text[1:].strip()
    value = _number(text) if text[:1] and text[0] not in "+-" else None
    if value is None:
        return None, _l("Not an amount.")
    cents = value.quantize(Decimal("0.01")) if abs(value) < MONEY_LIMIT else None
    if cents is None:
        return None, _l("Amount is too large.")
    if abs(cents - value) > Decimal("0.000001"):
        return None, _l("Amount has more than 2 decimal places.")
    return (-cents if negative else cents), None


# --- booleans ------------------------------------------------------------------------------------

TRUE_WORDS = frozenset({"是", "y", "yes", "true", "t", "1", "对", "有", "√", "✓", "真"})
FALSE_WORDS = frozenset({"否", "n", "no", "false", "f", "0", "不", "无", "×", "✗", "假", "不是"})


@_never_raises
def parse_bool(raw: Any):
    """是/否, Y/N, yes/no, true/false (Excel's TRUE/FALSE), 1/0, √/×."""
    text = fold(raw).casefold()
    if not text:
        return None, None
    if text in TRUE_WORDS:
        return True, None
    if text in FALSE_WORDS:
        return False, None
    return None, _l("Not yes or no (use 是/否, Y/N, true/false or 1/0).")


# --- dates ---------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_TIME_RE = re.compile(
    r"^(\d{1,2})\s*[:时點点]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2})(?:\.(\d{1,6}))?\s*秒?)?\s*分?$"
)
_SERIAL_RE = re.compile(r"^\d{1,5}(\.\d+)?$")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
DATE_FORMS = "2024-03-05, 2024/3/5, 2024年3月5日, 20240305"


def excel_serial_to_datetime(serial: float) -> dt.datetime | None:
    """An Excel (1900 system) serial to a datetime, or None for 0, 60 and out-of-range values.

    Excel counts 1900-02-29, which never existed (Lotus 1-2-3's leap-year bug): serials from 61
    on are days since 1899-12-30; 1-59 are one day later than that rule gives; 60 is the
    phantom day itself and is refused.
    """
    if not 1 <= serial < 2958466 or 60 <= serial < 61:
        return None
    days = serial if serial >= 61 else serial + 1
    whole = int(days)
    seconds = round((days - whole) * 86400)
    return _EXCEL_EPOCH + dt.timedelta(days=whole, seconds=seconds)


_SPACES = re.compile(r"\s+")
_CJK_UNIT_SPACES = re.compile(r"\s*([年月日时分秒])\s*")


def _split_date_time(text: str) -> tuple[str, str]:
    text = _SPACES.sub(" ", text.replace("T", " ", 1) if "T" in text else text)
    if not text.isascii():
        text = _CJK_UNIT_SPACES.sub(r"\1", text)
    if "日" in text and not text.endswith("日"):
        date_part, _, time_part = text.partition("日")
        return date_part + "日", time_part.strip()
    date_part, _, time_part = text.partition(" ")
    return date_part, time_part.strip()


def _date_only(text: str) -> dt.date | None:
    match = _DATE_RE.match(text) or _COMPACT_RE.match(text)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _time_only(text: str) -> dt.time | None:
    for zone_suffix in ("Z", "+08:00", "+0800"):
        if text.endswith(zone_suffix):  # local time of the bank; a stated +08:00 changes nothing
            text = text[: -len(zone_suffix)]
            break
    match = _TIME_RE.match(text.strip())
    if not match:
        return None
    try:
        micro = int((match[4] or "0").ljust(6, "0"))
        return dt.time(int(match[1]), int(match[2]), int(match[3] or 0), micro)
    except ValueError:
        return None


def _parse_moment(raw: Any, allow_serial: bool) -> tuple[dt.date | None, dt.time | None, bool]:
    """(date, time or None, recognised) for every supported form."""
    text = fold(raw)
    if len(text) == 10 and _ISO_DATE_RE.match(text):  # fast path: 2024-03-05
        try:
            return dt.date.fromisoformat(text), None, True
        except ValueError:
            return None, None, False
    if allow_serial and _SERIAL_RE.match(text) and not _COMPACT_RE.match(text):
        moment = excel_serial_to_datetime(float(text))
        if moment is None:
            return None, None, False
        return moment.date(), (moment.time() if "." in text else None), True
    date_part, time_part = _split_date_time(text)
    day = _date_only(date_part)
    if day is None:
        return None, None, False
    if not time_part:
        return day, None, True
    moment_time = _time_only(time_part)
    if moment_time is None:
        return None, None, False
    return day, moment_time, True


@_never_raises
def parse_date(raw: Any, allow_serial: bool = True):
    """A calendar date in the forms of :data:`DATE_FORMS`, or an Excel serial (``45356``).

    A datetime at midnight (what databases export for dates) is taken as its date; a datetime
    with a time of day is refused rather than silently cut.
    """
    if not fold(raw):
        return None, None
    day, moment_time, ok = _parse_moment(raw, allow_serial)
    if not ok or day is None:
        return None, _l("Not a date (use %(forms)s).", forms=DATE_FORMS)
    if moment_time is not None and moment_time != dt.time(0, 0):
        return None, _l("A date is expected, without a time of day.")
    return day, None


@_never_raises
def parse_datetime(raw: Any, allow_serial: bool = True):
    """A date with an optional time (``2024-03-05 14:30[:00]``, ``2024年3月5日 14时30分``)."""
    if not fold(raw):
        return None, None
    day, moment_time, ok = _parse_moment(raw, allow_serial)
    if not ok or day is None:
        return None, _l("Not a date and time (use 2024-03-05 14:30:00).")
    return dt.datetime.combine(day, moment_time or dt.time(0, 0)), None


# --- choices -------------------------------------------------------------------------------------

_ZH_PO = (Path(__file__).resolve().parent.parent / "translations" / "zh" / "LC_MESSAGES"
          / "messages.po")


@functools.lru_cache(maxsize=1)
def _zh_catalogue() -> dict[str, str]:
    """msgid -> zh msgstr from our catalogue, read without an app (labels of the choices)."""
    try:
        from babel.messages.pofile import read_po

        with open(_ZH_PO, "rb") as fileobj:
            catalog = read_po(fileobj, locale="zh")
        return {m.id: m.string for m in catalog if isinstance(m.id, str) and m.string}
    except Exception:  # noqa: BLE001 - no catalogue: codes and English labels still work
        return {}


def choice_key(text: Any) -> str:
    """The comparison form of a choice: folded, case- and space-insensitive."""
    return re.sub(r"[\s_\-]+", "", fold(text).casefold())


def choice_lookup(choices: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> dict:
    """key -> code for every code, English label, Chinese label and alias of ``choices``."""
    zh = _zh_catalogue()
    lookup: dict[str, str] = {}
    for code, label in choices.items():
        english = getattr(label, "_args", None)
        english = english[0] if english else str(label)
        for form in (code, english, zh.get(english, "")):
            if form:
                lookup.setdefault(choice_key(form), code)
    for alias, code in (aliases or {}).items():
        lookup.setdefault(choice_key(alias), code)
    return lookup


@_never_raises
def parse_choice(raw: Any, choices: Mapping[str, Any], aliases: Mapping[str, str] | None = None,
                 lookup: Mapping[str, str] | None = None):
    """One of ``choices`` by code, English or Chinese label, or an alias; ``lookup`` is the
    precomputed :func:`choice_lookup` (pass it when parsing many rows)."""
    if not fold(raw):
        return None, None
    lookup = lookup if lookup is not None else choice_lookup(choices, aliases)
    code = lookup.get(choice_key(raw))
    if code is None:
        return None, _l("Not one of the allowed values: %(allowed)s.",
                        allowed=", ".join(choices))
    return code, None


# --- identifiers that models.validators does not cover ------------------------------------------

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$"  # also matched a column at a time (columns)
_EMAIL_RE = re.compile(EMAIL_PATTERN)


@_never_raises
def parse_email(raw: Any):
    """An e-mail address, trimmed and with a lower-cased domain."""
    text = fold(raw)
    if not text:
        return None, None
    if len(text) > 255 or not _EMAIL_RE.match(text):
        return None, _l("Not an e-mail address.")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}", None
