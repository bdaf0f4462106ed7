"""What a user is shown of a customer-data value: masked, hidden, or as stored.

Applied below the screens (the FAB data interface every list and show page reads through) and in
the REST API's response hooks, so that a new column on any screen is masked by default. Revealing
a value in full is a separate, logged action (``backoffice.customers.reveal``).
"""
from __future__ import annotations

from backoffice.security import policy
from backoffice.security.policy import HIDDEN_TEXT, customer_of  # noqa: F401 - re-exported

CUSTOM_DOCUMENT = "custom_fields"


def present(item, field: str, value, viewer=None):
    """The value of ``item.field`` as the current user (or ``viewer``) may see it.

    Custom fields (``custom_fields.<key>`` columns, or the whole ``custom_fields`` document) are
    presented by the fields feature (through ``field_hooks``): withheld from roles the field is
    not shown to, masked when sensitive, whatever ``value`` the caller read.
    """
    if field == CUSTOM_DOCUMENT or field.startswith(CUSTOM_DOCUMENT + "."):
        return _present_custom(item, field, value)
    return policy.shown(type(item).__name__, field, item, value, viewer)


def present_row(item, row: dict) -> dict:
    """Apply :func:`present` to every key of a serialised row (API responses), in place.

    Nested relation keys (``customer.mobile`` style, or nested dicts) are masked too.
    """
    for key, value in list(row.items()):
        if key == CUSTOM_DOCUMENT:
            row[key] = _present_custom(item, key, value)
            continue
        if isinstance(value, dict):
            for inner, inner_value in list(value.items()):
                value[inner] = policy.shown(type(item).__name__, f"{key}.{inner}", item,
                                            inner_value)
            continue
        row[key] = present(item, key, value)
    return row


def _present_custom(item, field: str, value):
    """A custom column's display text, or the document of the fields the user sees (API)."""
    from backoffice.security.field_hooks import custom_fields

    fields = custom_fields()
    entity = fields.entity_of(item)
    if entity is None:
        return value
    if field == CUSTOM_DOCUMENT:
        return fields.document(item, entity)
    spec = fields.spec(entity, field[len(CUSTOM_DOCUMENT) + 1:])
    if spec is None or not spec.active:
        return HIDDEN_TEXT
    return fields.shown(item, spec)
