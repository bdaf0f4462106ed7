"""Revealing one sensitive value in full: a reason is required and the reveal is logged.

Screens, API and exports always show masks; a role holding ``can_reveal`` on customers may see one
value of one customer in full, here, after stating why. The page is sent with ``no-store`` so the
value does not linger in a browser cache.

Sensitive custom fields (``custom_fields.<key>``) are revealed the same way, to the roles that see
the field (its ``visible_roles``): a field a role may not see does not exist for it here either
(404), like an archived field or one that is not sensitive (nothing is masked, nothing to reveal).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from backoffice.security.masking import SENSITIVE_FIELDS, mask_value

# The masked fields. Deep-profile fields are not masked but withheld: whoever may see the deep
# profile sees them whole, so there is nothing to reveal.
REVEALABLE = ("id_number", "mobile", "email", "address")
CUSTOM_PREFIX = "custom_fields."


class RevealForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(), Length(min=4, max=255,
                                           message=_l("Give a reason of 4 to 255 characters."))],
        description=_l("Why do you need to see this value in full? The reason is recorded."),
    )


def custom_spec(field: str):
    """The sensitive, active custom field named ``custom_fields.<key>`` that the current user
    sees, else None (a built-in field, or nothing this user may reveal)."""
    if not field.startswith(CUSTOM_PREFIX):
        return None
    from backoffice.fields.access import may_see
    from backoffice.fields.registry import field_spec

    spec = field_spec("customer", field[len(CUSTOM_PREFIX):])
    if spec is None or not spec.sensitive or not may_see(spec):
        return None
    return spec


def may_reveal(customer, field: str) -> bool:
    """Only the masked fields of a customer the user sees can be revealed: the built-in ones, and
    the sensitive custom fields the user's role sees."""
    return field in REVEALABLE or custom_spec(field) is not None


def revealable_fields(customer) -> list[str]:
    """What the 360 page offers to reveal: the built-in masked fields, then the sensitive custom
    fields the user sees that hold a value on this customer."""
    from backoffice.fields.access import visible_specs

    stored = customer.custom_fields or {}
    custom = [spec.storage_path for spec in visible_specs("customer")
              if spec.sensitive and stored.get(spec.key) is not None]
    return [f for f in REVEALABLE if may_reveal(customer, f)] + custom


def field_label(field: str, labels: dict) -> str:
    """A field's label in the user's language (``labels``: the screen's built-in labels)."""
    spec = custom_spec(field)
    if spec is not None:
        return spec.label()
    return str(labels.get(field, field))


def field_labels(customer, labels: dict) -> dict:
    """The screen's labels plus those of the custom fields :func:`revealable_fields` offers."""
    return {**labels, **{field: field_label(field, labels)
                         for field in revealable_fields(customer)
                         if field.startswith(CUSTOM_PREFIX)}}


def masked(customer, field: str):
    spec = custom_spec(field)
    if spec is not None:
        from backoffice.fields.display import shown

        return shown(customer, spec)
    return mask_value(SENSITIVE_FIELDS[field], getattr(customer, field))


def value_of(customer, field: str):
    """The value in full, as the screens would show it unmasked (only after a stated reason)."""
    spec = custom_spec(field)
    if spec is None:
        return getattr(customer, field)
    from backoffice.fields.display import text_of, typed_value

    return text_of(spec, typed_value(customer, spec))


def log_reveal(customer, field: str, reason: str) -> None:
    """Write the reveal to the operation log (in the same transaction as nothing else)."""
    from backoffice.audit.log import record

    record("reveal", entity="Customer", entity_id=customer.id, customer_id=customer.id,
           detail={"field": field, "reason": reason})
