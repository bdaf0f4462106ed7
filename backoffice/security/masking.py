"""Masking of sensitive values, on the server, for every path that shows customer data.

One definition of what a masked value looks like, used by screens, the REST API, exports, error
reports, change-request diffs and the operation log, so that no path can show more than another.
Masks keep just enough to recognise a value at the counter (``110***********1234``,
``138****5678``) and nothing that would let it be reconstructed.
"""
from __future__ import annotations

# Logical field name -> masking kind, for every sensitive field of customer data.
SENSITIVE_FIELDS = {
    "id_number": "id_number",
    "mobile": "mobile",
    "email": "email",
    "address": "address",
    "account_no": "account_no",
    "annual_income": "secret",
    "family_notes": "secret",
    "investment_notes": "secret",
    # Deep-profile values: shown whole to those who may see the deep profile (presentation
    # checks that first), kept out of the operation log and change-request diffs entirely.
    "balance": "secret",
}
HIDDEN = "******"


def mask_value(kind: str, value) -> str | None:
    """The masked form of ``value`` for a field of the given kind (None stays None)."""
    if value is None or value == "":
        return value
    text = str(value)
    if kind == "id_number":
        return _keep(text, 3, 4)
    if kind == "mobile":
        return _keep(text, 3, 4)
    if kind == "account_no":
        return _keep(text, 4, 4)
    if kind == "email":
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}" if domain else _keep(text, 1, 0)
    if kind == "address":
        return text[:6] + "****" if len(text) > 6 else text[:2] + "****"
    return HIDDEN


def mask_field(field: str, value):
    """Mask ``value`` if ``field`` is sensitive; other values pass unchanged."""
    kind = SENSITIVE_FIELDS.get(field)
    return mask_value(kind, value) if kind else value


def _keep(text: str, head: int, tail: int) -> str:
    """Keep ``head`` leading and ``tail`` trailing characters, star the rest."""
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + (text[-tail:] if tail else "")


# --- admin-defined (custom) fields -------------------------------------------------------------

# A sensitive custom field is masked by what it holds: the counter-friendly masks for the types
# that have one, nothing at all (``******``) for anything else.
CUSTOM_TYPE_KINDS = {"mobile": "mobile", "prc_id": "id_number", "email": "email"}


def custom_kind(spec) -> str | None:
    """The masking kind of a custom field spec (None: not sensitive, shown as it is)."""
    if not getattr(spec, "sensitive", False):
        return None
    return CUSTOM_TYPE_KINDS.get(spec.type, "secret")


def custom_field_kind(key: str, entity: str | None = None) -> str | None:
    """The masking kind of the custom field ``key`` (of ``entity``; any entity if None).

    Archived fields count: their stored values stay sealed and must stay masked. A key that is
    sensitive in any entity is masked when the entity is not known.
    """
    from backoffice.security.field_hooks import custom_fields

    fields = custom_fields()
    kinds = [custom_kind(spec) for name in ([entity] if entity else fields.entities)
             if (spec := fields.spec(name, key)) is not None]
    return next((kind for kind in kinds if kind), None)


def mask_custom(spec, value):
    """A custom field's (typed or display) value as everyone but its record's owner sees it."""
    kind = custom_kind(spec)
    if kind is None or value is None or value == "":
        return value
    return mask_value(kind, value)
