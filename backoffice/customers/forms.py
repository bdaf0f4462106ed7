"""Form field validators for customer data, wrapping the shared ``models.validators``."""
from __future__ import annotations

from wtforms import ValidationError

from models import validators as v


class PrcIdNumber:
    """For ID type PRC_ID: 18 digits, check digit, real birth date agreeing with ``birth_date``."""

    def __call__(self, form, field):
        id_type = form.id_type.data if "id_type" in form else "PRC_ID"
        if not field.data:
            return
        if id_type == "PRC_ID":
            birth = form.birth_date.data if "birth_date" in form else None
            error = v.check_prc_id(field.data, birth_date=birth)
            if error:
                raise ValidationError(error)
            field.data = v.normalise_prc_id(field.data)
        elif id_type == "USCC":
            error = v.check_uscc(field.data)
            if error:
                raise ValidationError(error)
            field.data = field.data.strip().upper()


class MainlandMobile:
    """An optional mainland mobile number, stored without spaces or country prefix."""

    def __call__(self, form, field):
        if not field.data:
            return
        error = v.check_mobile(field.data)
        if error:
            raise ValidationError(error)
        field.data = v.normalise_mobile(field.data)
