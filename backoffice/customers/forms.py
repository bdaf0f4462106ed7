"""Form field validators for customer data, wrapping the shared ``models.validators``."""
from __future__ import annotations

from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_babel import lazy_gettext as _l
from wtforms import StringField, ValidationError

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


class Amount:
    """A non-negative amount of money, as typed (``1,234.50`` or ``1234.5``)."""

    def __call__(self, form, field):
        from decimal import Decimal, InvalidOperation

        if not field.data:
            return
        try:
            amount = Decimal(str(field.data).replace(",", "").strip())
        except InvalidOperation:
            raise ValidationError(_l("Enter an amount such as 120000.00.")) from None
        if not v.ordinary_number(amount) or abs(amount) >= v.MONEY_LIMIT:
            raise ValidationError(_l("Enter an amount such as 120000.00."))
        if amount < 0 or amount != amount.quantize(Decimal("0.01")):
            raise ValidationError(_l("Enter a non-negative amount with at most 2 decimals."))
        field.data = str(amount)


class SensitiveField(StringField):
    """An edit-form field for an encrypted value: it never renders what is stored.

    The stored value would otherwise travel to the browser in the form's HTML, in full, to users
    who only ever see it masked. The field shows the mask as a placeholder; left blank it keeps
    the stored value, filled in it replaces it (and is validated like any other input).
    """

    widget = BS3TextFieldWidget()

    def _value(self):
        return self.raw_data[0] if self.raw_data else ""

    def populate_obj(self, obj, name):
        if self.data:
            setattr(obj, name, self.data)


def keep_if_blank(form, field):
    """Skip the remaining validators when a sensitive edit field is left blank."""
    from wtforms.validators import StopValidation

    if not field.data:
        field.errors[:] = []
        raise StopValidation()
