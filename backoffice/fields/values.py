"""Custom-field values: checking what people type, and the typed form kept in the JSON column.

:func:`validate_value` is pure (a spec and a raw value in, a typed value and a message out), so
forms, the API, imports and tests share one rule per type. Storage keeps values typed: integers
as JSON numbers, decimals and money as decimal strings (never float), dates and times as ISO text
(times naive UTC), multiple choices as lists; a sensitive field's value is sealed with
``models.crypto`` bound to its table, its key and the row, so a ciphertext copied onto another
record or field does not open.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from backoffice.fields.registry import FieldSpec, catalog_by_key, entity_model
from models import crypto
from models import validators as idv
from models.validators import MONEY_LIMIT

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = {"1", "true", "yes", "y", "on", "是", "t"}
_FALSE = {"0", "false", "no", "n", "off", "否", "f"}
STRING_TYPES = ("text", "long_text", "email", "mobile", "prc_id", "url")


def is_empty(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (
        isinstance(raw, (list, tuple, set)) and not raw)


def validate_value(spec: FieldSpec, raw):
    """``(typed_value, None)`` or ``(None, message)``; an empty value is None (or required)."""
    if is_empty(raw):
        if spec.required:
            return None, _l("%(field)s is required.", field=spec.label())
        return None, None
    try:
        value = _PARSERS[spec.type](spec, raw)
    except _Invalid as invalid:
        return None, invalid.message
    message = _check_rules(spec, value)
    return (None, message) if message else (value, None)


class _Invalid(Exception):
    def __init__(self, message):
        self.message = message
        super().__init__(str(message))


def _text(spec, raw):
    if not isinstance(raw, str):
        if isinstance(raw, (dict, list, tuple, set, bool)):
            raise _Invalid(_l("%(field)s must be text.", field=spec.label()))
        raw = str(raw)
    return raw.strip() if spec.type != "long_text" else raw.replace("\r\n", "\n").strip("\n")


def _integer(spec, raw):
    if isinstance(raw, bool):
        raise _Invalid(_l("%(field)s must be a whole number.", field=spec.label()))
    if isinstance(raw, int):
        return raw
    try:
        number = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        raise _Invalid(_l("%(field)s must be a whole number.", field=spec.label())) from None
    if not idv.ordinary_number(number) or number != number.to_integral_value():
        raise _Invalid(_l("%(field)s must be a whole number.", field=spec.label()))
    return int(number)


def _decimal(spec, raw):
    if isinstance(raw, bool) or isinstance(raw, (list, dict)):
        raise _Invalid(_l("%(field)s must be a number.", field=spec.label()))
    text = format(raw, "f") if isinstance(raw, Decimal) else str(raw).strip().replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _Invalid(_l("%(field)s must be a number.", field=spec.label())) from None
    if not idv.ordinary_number(number):
        raise _Invalid(_l("%(field)s must be a number.", field=spec.label()))
    return number


def _money(spec, raw):
    number = _decimal(spec, raw)
    if abs(number) >= MONEY_LIMIT:  # first: quantizing a larger number overflows
        raise _Invalid(_l("%(field)s is too large an amount.", field=spec.label()))
    if number != number.quantize(Decimal("0.01")):
        raise _Invalid(_l("%(field)s is an amount of money: at most 2 decimal places.",
                          field=spec.label()))
    return number.quantize(Decimal("0.01"))


def _date(spec, raw):
    if isinstance(raw, dt.datetime):
        raise _Invalid(_l("%(field)s must be a date (YYYY-MM-DD).", field=spec.label()))
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        raise _Invalid(_l("%(field)s must be a date (YYYY-MM-DD).", field=spec.label())) from None


def _datetime(spec, raw):
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, dt.date):
        value = dt.datetime.combine(raw, dt.time())
    else:
        try:
            value = dt.datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        except ValueError:
            raise _Invalid(_l("%(field)s must be a date and time (YYYY-MM-DD HH:MM).",
                              field=spec.label())) from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _boolean(spec, raw):
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid(_l("%(field)s must be yes or no.", field=spec.label()))


def _choice(spec, raw):
    value = str(raw).strip() if not isinstance(raw, (list, dict)) else None
    if value is None or value not in spec.choice_values:
        raise _Invalid(_l("%(field)s must be one of the listed choices.", field=spec.label()))
    return value


def _multi_choice(spec, raw):
    items = [s for s in raw.split(",")] if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple, set)):
        raise _Invalid(_l("%(field)s must be one of the listed choices.", field=spec.label()))
    chosen = {str(item).strip() for item in items if str(item).strip()}
    if not chosen <= set(spec.choice_values):
        raise _Invalid(_l("%(field)s must be one of the listed choices.", field=spec.label()))
    return [value for value in spec.choice_values if value in chosen]  # in choice order


def _email(spec, raw):
    text = _text(spec, raw)
    if not _EMAIL_RE.match(text):
        raise _Invalid(_l("%(field)s must be an email address.", field=spec.label()))
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _mobile(spec, raw):
    text = _text(spec, raw)
    if idv.check_mobile(text):
        raise _Invalid(_l("%(field)s: %(reason)s", field=spec.label(),
                          reason=idv.check_mobile(text)))
    return idv.normalise_mobile(text)


def _prc_id(spec, raw):
    text = _text(spec, raw)
    reason = idv.check_prc_id(text)
    if reason:
        raise _Invalid(_l("%(field)s: %(reason)s", field=spec.label(), reason=reason))
    return idv.normalise_prc_id(text)


def _url(spec, raw):
    text = _text(spec, raw)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
        raise _Invalid(_l("%(field)s must be a web address starting with http:// or https://.",
                          field=spec.label()))
    return text


_PARSERS = {"text": _text, "long_text": _text, "integer": _integer, "decimal": _decimal,
            "money": _money, "date": _date, "datetime": _datetime, "boolean": _boolean,
            "choice": _choice, "multi_choice": _multi_choice, "email": _email,
            "mobile": _mobile, "prc_id": _prc_id, "url": _url}
FIELD_TYPES = tuple(_PARSERS)


def bound(spec: FieldSpec, text: str | None):
    """A min/max bound of the spec in the field's own type (None if unset or unreadable)."""
    if text in (None, ""):
        return None
    parser = {"integer": _decimal, "decimal": _decimal, "money": _decimal, "date": _date,
              "datetime": _datetime}.get(spec.type)
    if parser is None:
        return None
    try:
        return parser(spec, text)
    except _Invalid:
        return None


def _check_rules(spec: FieldSpec, value):
    if spec.type in STRING_TYPES:
        if spec.max_length and len(value) > spec.max_length:
            return _l("%(field)s must be at most %(max)s characters.", field=spec.label(),
                      max=spec.max_length)
        if spec.regex:
            try:
                matches = re.fullmatch(spec.regex, value) is not None
            except re.error:
                matches = False
            if not matches:
                return spec.regex_message or _l("%(field)s is not in the expected format.",
                                                field=spec.label())
    low, high = bound(spec, spec.min_value), bound(spec, spec.max_value)
    if low is not None and value < low:
        return _l("%(field)s must be at least %(min)s.", field=spec.label(), min=spec.min_value)
    if high is not None and value > high:
        return _l("%(field)s must be at most %(max)s.", field=spec.label(), max=spec.max_value)
    return None


# --- storage -----------------------------------------------------------------------------------


def plain_storage(spec: FieldSpec, value):
    """The JSON form of a typed value, before any encryption."""
    if value is None:
        return None
    if spec.type == "integer":
        return int(value)
    if spec.type == "money":
        return format(Decimal(value).quantize(Decimal("0.01")), "f")
    if spec.type == "decimal":
        return format(Decimal(value), "f")
    if spec.type == "date":
        return value.isoformat()
    if spec.type == "datetime":
        return value.replace(microsecond=0).isoformat(timespec="seconds")
    if spec.type == "boolean":
        return bool(value)
    if spec.type == "multi_choice":
        return list(value)
    return str(value)


def plain_value(spec: FieldSpec, stored):
    """The typed value of a (decrypted) JSON form; raises ValueError if it does not fit."""
    if stored is None:
        return None
    if spec.type == "integer":
        if isinstance(stored, bool) or not isinstance(stored, int):
            raise ValueError(f"{spec.key}: not an integer: {stored!r}")
        return stored
    if spec.type in ("decimal", "money"):
        return Decimal(str(stored))
    if spec.type == "date":
        return dt.date.fromisoformat(stored)
    if spec.type == "datetime":
        return dt.datetime.fromisoformat(stored)
    if spec.type == "boolean":
        return bool(stored)
    if spec.type == "multi_choice":
        return list(stored)
    return stored


def value_aad(spec: FieldSpec, uid) -> bytes:
    return crypto.aad(spec.table, spec.storage_path, str(uid or ""))


def record_uid(record) -> str | None:
    """The identity a sensitive value is bound to: ``record_uid`` if the table has one, else id."""
    uid = getattr(record, "record_uid", None)
    if uid is None and getattr(record, "id", None) is not None:
        uid = str(record.id)
    return uid


def to_storage(spec: FieldSpec, value, uid=None):
    """What the JSON column holds for ``value`` (sealed text for a sensitive field)."""
    stored = plain_storage(spec, value)
    if stored is None or not spec.sensitive:
        return stored
    return crypto.encrypt(json.dumps(stored, ensure_ascii=False), value_aad(spec, uid))


def from_storage(spec: FieldSpec, stored, uid=None):
    """The typed value of what the JSON column holds (opens a sensitive field's ciphertext)."""
    if stored is None:
        return None
    if spec.sensitive:
        stored = json.loads(crypto.decrypt(stored, value_aad(spec, uid)))
    return plain_value(spec, stored)


def as_raw(spec: FieldSpec, value):
    """A typed value as the text (or list) a person would type: the input of a conversion."""
    if value is None:
        return None
    if spec.type == "multi_choice":
        return list(value)
    if spec.type == "boolean":
        return "true" if value else "false"
    stored = plain_storage(spec, value)
    return stored if isinstance(stored, str) else str(stored)


# --- whole records -----------------------------------------------------------------------------


def validate_record(entity: str, values: dict, existing=None, *, specs=None, session=None):
    """Check every submitted custom value of one record; ``(clean, errors)``, all errors at once.

    ``values`` maps keys to raw values (only the fields being written); ``existing`` is the
    record being changed (None for a new one: missing fields then take their default, and a
    required field without one is an error). ``clean`` maps each written key to its typed value.
    Unknown and archived keys are refused; unique fields are checked against the other records.
    """
    catalog = {s.key: s for s in specs} if specs is not None else catalog_by_key(
        entity, session=session)
    clean: dict = {}
    errors: dict = {}
    for key, raw in values.items():
        spec = catalog.get(key)
        if spec is None:
            errors[key] = _l("%(key)s is not a field of this record.", key=key)
            continue
        typed, message = validate_value(spec, raw)
        if message:
            errors[key] = message
        else:
            clean[key] = typed
    current = dict(getattr(existing, "custom_fields", None) or {}) if existing is not None else {}
    for key, spec in catalog.items():
        if key in values:
            continue
        if existing is None and spec.default is not None:
            clean[key] = plain_value(spec, spec.default)
        elif spec.required and current.get(key) is None:
            errors[key] = _l("%(field)s is required.", field=spec.label())
    for key, typed in clean.items():
        spec = catalog[key]
        if spec.unique and typed is not None and key not in errors and is_taken(
                spec, typed, exclude=existing, session=session):
            errors[key] = _l("%(field)s %(value)s is already used by another record.",
                             field=spec.label(), value=as_raw(spec, typed))
    return clean, errors


def is_taken(spec: FieldSpec, typed, exclude=None, session=None) -> bool:
    """Whether another record of the entity holds this value of a unique field."""
    from sqlalchemy import func, select

    from backoffice.fields.filters import compile_filter

    model = entity_model(spec.entity)
    if model is None:
        return False
    if session is None:
        from backoffice.extensions import db

        session = db.session
    query = select(func.count()).select_from(model).where(
        compile_filter(spec, "eq", typed, model=model, session=session))
    if exclude is not None and getattr(exclude, "id", None) is not None:
        query = query.where(model.id != exclude.id)
    # Uniqueness is across all records, not only those the writer may see (the answer names no
    # other record).
    return session.execute(query.execution_options(crm_unscoped=True)).scalar() > 0


def apply_values(record, clean: dict, specs=None) -> None:
    """Write typed values into ``record.custom_fields`` (other keys, archived ones included,
    stay as they are); a None removes the key."""
    catalog = {s.key: s for s in specs} if specs is not None else catalog_by_key(
        _entity_of(record), include_archived=True)
    document = dict(record.custom_fields or {})
    uid = record_uid(record)
    for key, typed in clean.items():
        if typed is None:
            document.pop(key, None)
        else:
            document[key] = to_storage(catalog[key], typed, uid)
    record.custom_fields = document


def read_values(record, specs=None) -> dict:
    """The typed values of a record's fields (only keys of ``specs`` or the active catalogue)."""
    catalog = {s.key: s for s in specs} if specs is not None else catalog_by_key(
        _entity_of(record))
    document = record.custom_fields or {}
    uid = record_uid(record)
    return {key: from_storage(spec, document.get(key), uid) for key, spec in catalog.items()}


def _entity_of(record) -> str:
    from backoffice.fields.registry import entity_of

    return entity_of(record) or record.__tablename__
