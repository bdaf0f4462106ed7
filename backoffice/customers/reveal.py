"""Revealing one sensitive value in full: a reason is required and the reveal is logged.

Screens, API and exports always show masks; a role holding ``can_reveal`` on customers may see one
value of one customer in full, here, after stating why. The page is sent with ``no-store`` so the
value does not linger in a browser cache.
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


class RevealForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(), Length(min=4, max=255,
                                           message=_l("Give a reason of 4 to 255 characters."))],
        description=_l("Why do you need to see this value in full? The reason is recorded."),
    )


def may_reveal(customer, field: str) -> bool:
    """Only the masked fields of a customer the user sees can be revealed."""
    return field in REVEALABLE


def masked(customer, field: str):
    return mask_value(SENSITIVE_FIELDS[field], getattr(customer, field))


def log_reveal(customer, field: str, reason: str) -> None:
    """Write the reveal to the operation log (in the same transaction as nothing else)."""
    from backoffice.audit.log import record

    record("reveal", entity="Customer", entity_id=customer.id, customer_id=customer.id,
           detail={"field": field, "reason": reason})
