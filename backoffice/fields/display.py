"""Custom values as people and API clients see them: labelled, formatted, masked or withheld.

One place turns a stored value into what a screen, the 360 page, an export or an API response
shows, so they cannot disagree: a field the user's role may not see is withheld (``—`` on
screens, absent from API documents), a sensitive field is opened only to be masked, choices show
their labels, money its separators, times the display zone.
"""
from __future__ import annotations

import logging

from backoffice.fields import values as v
from backoffice.fields.access import may_see
from backoffice.fields.registry import STORAGE_COLUMN, FieldSpec
from backoffice.security.masking import HIDDEN, mask_custom

log = logging.getLogger(__name__)
COLUMN_PREFIX = f"{STORAGE_COLUMN}."
WITHHELD = "—"


def column_name(spec: FieldSpec) -> str:
    """The list/show column of a field: ``custom_fields.<key>`` (as in reviews and the log)."""
    return spec.storage_path


def key_of_column(column: str) -> str | None:
    return column[len(COLUMN_PREFIX):] if column.startswith(COLUMN_PREFIX) else None


def typed_value(record, spec: FieldSpec):
    """The typed value the record holds (None if unset or if it cannot be opened)."""
    stored = (getattr(record, STORAGE_COLUMN, None) or {}).get(spec.key)
    try:
        return v.from_storage(spec, stored, v.record_uid(record))
    except Exception:  # noqa: BLE001 - a value that does not open or fit shows as withheld
        log.warning("custom value %s of record %s does not open", spec.storage_path,
                    getattr(record, "id", None))
        return HIDDEN if stored is not None else None


def text_of(spec: FieldSpec, typed) -> str:
    """A typed value as display text (no masking)."""
    from backoffice.formatting import local_time, money, yes_no

    if typed is None or typed == "":
        return ""
    if typed == HIDDEN:
        return HIDDEN
    if spec.type == "choice":
        return spec.choice_label(typed)
    if spec.type == "multi_choice":
        return "、".join(spec.choice_label(item) for item in typed)
    if spec.type == "boolean":
        return yes_no(typed)
    if spec.type == "money":
        return money(typed)
    if spec.type == "datetime":
        return local_time(typed)
    return str(v.plain_storage(spec, typed))


def shown(record, spec: FieldSpec, roles=None) -> str:
    """What a screen or export shows of the field on this record for the current user."""
    if not may_see(spec, roles):
        return WITHHELD
    return _masked_text(spec, typed_value(record, spec))


def shown_stored(spec: FieldSpec, stored, uid, roles=None) -> str | None:
    """What a user is shown of a value held apart from its record (a change request's proposed
    or previous value), sealed for the record ``uid``: the same text as :func:`shown` gives on
    the record itself (withheld, masked, labelled). None when there is no value."""
    if not may_see(spec, roles):
        return WITHHELD
    if stored is None:
        return None
    return _masked_text(spec, _opened(spec, stored, uid))


def logged_stored(spec: FieldSpec, stored, uid):
    """What the operation log keeps of a stored value: as stored (JSON), or masked when the
    field is sensitive (opened only to be masked, like the built-in sensitive fields)."""
    if stored is None or not spec.sensitive:
        return stored
    typed = _opened(spec, stored, uid)
    return mask_custom(spec, typed if typed == HIDDEN else v.as_raw(spec, typed))


def _opened(spec: FieldSpec, stored, uid):
    try:
        return v.from_storage(spec, stored, uid)
    except Exception:  # noqa: BLE001 - a value that does not open or fit shows as withheld
        log.warning("custom value %s sealed for %s does not open", spec.storage_path, uid)
        return HIDDEN


def _masked_text(spec: FieldSpec, typed) -> str:
    if spec.sensitive and typed is not None:
        return mask_custom(spec, text_of(spec, typed) if typed != HIDDEN else HIDDEN)
    return text_of(spec, typed)


def api_value(record, spec: FieldSpec):
    """The JSON value an API client reads (storage form; masked text if sensitive)."""
    typed = typed_value(record, spec)
    if typed is None:
        return None
    if spec.sensitive:
        return mask_custom(spec, typed if typed == HIDDEN else str(v.as_raw(spec, typed)))
    return v.plain_storage(spec, typed)


def api_document(record, specs) -> dict:
    """``{key: value}`` of the given (visible) fields for an API response."""
    return {spec.key: api_value(record, spec) for spec in specs}
