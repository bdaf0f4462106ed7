"""What the operation log keeps of a value: sensitive values masked, by field name and by shape.

Callers already mask the fields they know (``hooks`` masks every sensitive column), but the log
also keeps what a request carried: list filters (``_flt_0_mobile=...``), custom-field filters
(``cf_<key>=...``), export filters, search boxes, the REST API's rison ``q=`` argument, form
fields, free-text reasons. Some of those name their field, many do not, so ``redact`` looks at
both:

* by **name**: a key that names a sensitive field (``masking.SENSITIVE_FIELDS``, a sensitive
  custom field, under any of the prefixes filters put in front) has everything under it masked
  with that field's mask, and so has the ``value`` of a filter dict (``{"col": "mobile",
  "value": ...}``, ``{"field": key, "value": ...}``);
* by **shape**: any text (any key, any depth, URLs and rison decoded first) is scanned for an
  e-mail address, a run of digits that is a mainland mobile, a PRC ID number or an account/card
  number (``models.validators`` decides which mask), and a Chinese street address; each is
  replaced by its masked form in place.

The masks are ``masking.mask_value``'s, which are idempotent, so redacting a detail the caller
already masked changes nothing. Over-masking (a 14-digit timestamp in a file name) is the
accepted price: the log must never hold one of these values in full.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from backoffice.security.masking import SENSITIVE_FIELDS, custom_kind, mask_value
from models.validators import (
    check_bank_card,
    check_mobile,
    check_prc_id,
    normalise_mobile,
)

# Row columns that hold typed-in text besides ``detail``.
TEXT_COLUMNS = ("actor_username", "entity_id", "user_agent")

# Other names the same fields go by (spreadsheet headers, API clients, relation paths).
ALIASES = {
    "id_no": "id_number", "idno": "id_number", "id_card": "id_number", "id_card_no":
    "id_number", "身份证号": "id_number", "身份证号码": "id_number", "证件号码": "id_number",
    "phone": "mobile", "mobile_phone": "mobile", "cellphone": "mobile", "手机": "mobile",
    "手机号": "mobile", "手机号码": "mobile",
    "e_mail": "email", "email_address": "email", "邮箱": "email", "电子邮箱": "email",
    "addr": "address", "地址": "address", "住址": "address", "联系地址": "address",
    "account_number": "account_no", "card_no": "account_no", "card_number": "account_no",
    "账号": "account_no", "卡号": "account_no",
    "年收入": "annual_income", "余额": "balance",
}
# Keys whose values are hashes or digests: hex that must stay comparable, never customer data.
HASH_KEYS = frozenset({"sha256", "file_sha256", "row_hash", "prev_hash", "last_hash", "hash"})
# Keys a filter dict names its field by, and the keys holding that field's value(s).
FIELD_NAME_KEYS = ("col", "column", "field", "name", "key")
VALUE_KEYS = frozenset({"value", "values", "before", "after", "old", "new"})
URL_KEYS = frozenset({"url", "path", "full_path", "query", "query_string", "next", "referrer",
                      "referer", "link"})
RISON_KEYS = frozenset({"q", "_q", "rison"})

_FILTER_PREFIX = re.compile(r"^_flt_\d+_")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# A run of digits (the last character of an ID number may be X), or the grouped ways people
# type cards and mobiles ("6222 0212 ...", "139-1234-5678"); not glued to letters or digits on
# either side (so hex digests stay whole), and never two values joined across a plain space.
_DIGITS = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{4}(?:[ -]\d{4}){3,4}(?:[ -]\d{1,3})?|1[3-9]\d[ -]\d{4}[ -]\d{4}"
    r"|\+?\d{9,}[\dXx]|\d{3,}(?:-\d{3,})+)(?![0-9A-Za-z])")
_CJK_ADDR_CHARS = r"[\u4e00-\u9fff0-9A-Za-z#\-()（）·]"
_ADDRESS = re.compile(
    _CJK_ADDR_CHARS + r"*?(?:省|市|区|县|镇|乡|村|路|街|巷|弄|道|胡同|小区|大厦)"
    + _CJK_ADDR_CHARS + r"*?\d+\s*(?:号|室|弄|栋|幢|楼|单元)" + _CJK_ADDR_CHARS + "*")


def redact(value, custom_kinds: dict | None = None):
    """``value`` (a detail: dicts, lists, text, numbers) with every sensitive value masked.

    ``custom_kinds`` (custom field key -> masking kind) is read from the field catalogue when
    not given; a migration passes what it read on its own connection.
    """
    return _Redactor(custom_kinds).walk(value)


def redact_text(text: str) -> str:
    """Text with every e-mail, mobile, ID number, account number and address in it masked."""
    if not text:
        return text
    text = _EMAIL.sub(lambda m: mask_value("email", m.group(0)), text)
    text = _DIGITS.sub(_mask_digits, text)
    return _ADDRESS.sub(lambda m: mask_value("address", m.group(0)), text)


def _mask_digits(match) -> str:
    raw = match.group(0)
    digits = re.sub(r"[\s\-+]", "", raw)
    kind = digit_kind(digits)
    return raw if kind is None else mask_value(kind, digits)


def digit_kind(digits: str) -> str | None:
    """Which sensitive value a run of digits is (None: too short to be one)."""
    if len(digits) in (15, 18) and check_prc_id(digits) is None:
        return "id_number"
    if check_mobile(digits) is None or (digits.startswith("86") and len(digits) == 13
                                        and check_mobile(normalise_mobile("+" + digits)) is None):
        return "mobile"
    if check_bank_card(digits) is None:
        return "account_no"
    if len(digits) == 18 and digits[:17].isdigit():
        return "id_number"  # an ID number with a typo is still someone's ID number
    if len(digits) >= 12:
        return "account_no"  # account numbers need not pass the card check
    return None


def mask_all(value, kind: str):
    """Every leaf of ``value`` masked as ``kind`` (None, blanks and booleans stay)."""
    if isinstance(value, dict):
        return {key: mask_all(item, kind) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_all(item, kind) for item in value]
    if value is None or value == "" or isinstance(value, bool):
        return value
    return mask_value(kind, value)


class _Redactor:
    """One redaction pass; the sensitive custom keys are looked up once, when first needed."""

    def __init__(self, custom_kinds=None):
        self._custom = custom_kinds

    def custom_kinds(self) -> dict:
        if self._custom is None:
            self._custom = _sensitive_custom_keys()
        return self._custom

    def kind_of(self, name) -> str | None:
        """The masking kind of a field named ``name`` as a request or payload spells it."""
        if not isinstance(name, str) or not name:
            return None
        text = _FILTER_PREFIX.sub("", name.strip())
        custom = None
        if text.startswith("cf_"):
            custom = text[3:].partition("__")[0]
        elif text.startswith("custom_fields."):
            custom = text[len("custom_fields."):]
        if custom is not None:
            return self.custom_kinds().get(custom)
        last = text.rsplit(".", 1)[-1].lower()
        kind = SENSITIVE_FIELDS.get(last) or SENSITIVE_FIELDS.get(ALIASES.get(last, ""))
        if kind:
            return kind
        if last in _PLAIN_KEYS:
            return None
        return self.custom_kinds().get(text)

    def walk(self, value):
        if isinstance(value, dict):
            return self.walk_dict(value)
        if isinstance(value, (list, tuple)):
            return [self.walk(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
            return value if redact_text(text) == text else redact_text(text)
        return value

    def walk_dict(self, value: dict) -> dict:
        named = None
        for key in FIELD_NAME_KEYS:
            if isinstance(value.get(key), str):
                named = self.kind_of(value[key])
                if named:
                    break
        out = {}
        for key, item in value.items():
            kind = self.kind_of(key)
            if kind is None and named and key in VALUE_KEYS:
                kind = named
            if kind:
                out[key] = mask_all(item, kind)
            elif key == "custom_fields" and isinstance(item, dict):
                out[key] = {k: (mask_all(v, self.custom_kinds()[k]) if k in self.custom_kinds()
                                else self.walk(v)) for k, v in item.items()}
            elif key in HASH_KEYS and isinstance(item, str):
                out[key] = item
            elif key in RISON_KEYS and isinstance(item, str):
                out[key] = self.rison(item)
            elif key in URL_KEYS and isinstance(item, str):
                out[key] = self.url(item)
            else:
                out[key] = self.walk(item)
        return out

    def text(self, text: str) -> str:
        if "=" in text and ("?" in text or "&" in text) and " " not in text.strip():
            return self.url(text)
        return redact_text(text)

    def url(self, text: str) -> str:
        """A URL or query string with each parameter redacted by its name and its value."""
        try:
            parts = urlsplit(text)
        except ValueError:
            return redact_text(text)
        query = parts.query
        if not query and "=" in parts.path and not parts.scheme:
            parts, query = parts._replace(path=""), parts.path
        if not query:
            return redact_text(text)
        pairs = []
        for name, item in parse_qsl(query, keep_blank_values=True):
            kind = self.kind_of(name)
            if kind:
                item = mask_value(kind, item) if item else item
            elif name in RISON_KEYS:
                item = self.rison(item)
            else:
                item = redact_text(item)
            pairs.append((redact_text(name), item))
        # Decoded (``name=value&...``): the log is read by people, and the masks stay legible.
        query = "&".join(f"{name}={item}" for name, item in pairs)
        prefix = urlunsplit(parts._replace(query=""))
        return f"{redact_text(prefix)}?{query}" if prefix else query

    def rison(self, text: str) -> str:
        """The REST API's rison argument, decoded, redacted as a structure and encoded again."""
        try:
            import prison

            decoded = prison.loads(text)
        except Exception:  # noqa: BLE001 - not rison (a malformed q=): redact it as text
            return redact_text(text)
        if not isinstance(decoded, (dict, list)):
            return redact_text(text)
        try:
            return prison.dumps(self.walk(decoded))
        except Exception:  # noqa: BLE001 - cannot re-encode: keep the redacted structure's text
            return redact_text(text)


# Keys the log's own details use, which are never custom fields (spares a catalogue lookup).
_PLAIN_KEYS = frozenset({
    "ids", "returned", "truncated", "format", "count", "via", "op", "rows", "first_id",
    "last_id", "list", "filters", "reason", "file", "values", "changes", "bulk", "columns",
    "before", "after", "value", "col", "opr", "field", "id", "name", "status", "q", "page",
    "page_size", "order_column", "order_direction", "keys", "query", "url", "path", "method",
    "errors", "message", "revision", "resealed_from", "masked_rows", "action", "entity",
})


def _sensitive_custom_keys() -> dict:
    """Custom field key -> masking kind for every sensitive (active or archived) field."""
    from flask import has_app_context

    from backoffice.security.field_hooks import custom_fields

    if not has_app_context():
        return {}
    fields, kinds = custom_fields(), {}  # unregistered: no create_app, refused, not guessed
    try:
        for entity in fields.entities:
            for spec in fields.specs(entity):
                kind = custom_kind(spec)
                if kind:
                    kinds.setdefault(spec.key, kind)
        return kinds
    except Exception:  # noqa: BLE001 - no catalogue (early in a migration): shapes still apply
        return {}
