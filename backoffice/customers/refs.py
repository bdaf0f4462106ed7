"""Referring to a customer by customer number, for forms and list filters.

A select listing every customer does not scale past a branch (and FAB's relation filters load the
whole related table). Staff know customer numbers, so forms take the number and list filters
match it exactly; both resolve it through the scoped session, so a number outside the user's
scope is simply "not found".
"""
from __future__ import annotations

from flask import request
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import StringField, ValidationError

from backoffice.extensions import db
from models import Customer


def find_customer(customer_no: str) -> Customer | None:
    """The customer with this number, if the current user may see it."""
    customer_no = (customer_no or "").strip().upper()
    if not customer_no:
        return None
    return db.session.scalars(
        select(Customer).where(Customer.customer_no == customer_no)
    ).one_or_none()


class AmbiguousIdentity(LookupError):
    """More than one customer matches the identity given (e.g. a mobile shared in a family)."""


def find_customers_by_identity(id_number: str | None = None, mobile: str | None = None,
                               unscoped: bool = False) -> list[Customer]:
    """Customers with exactly this ID number (else, if none is given, this mobile).

    An exact match through the blind index (``Customer.id_number == ...`` compiles to it); the
    values are normalised as they are when stored. Scoped to the current user unless
    ``unscoped`` (an import checking for duplicates across the whole bank).
    """
    if id_number and id_number.strip():
        condition = Customer.id_number == id_number
    elif mobile and mobile.strip():
        condition = Customer.mobile == mobile
    else:
        return []
    options = {"crm_unscoped": True} if unscoped else {}
    return list(db.session.scalars(select(Customer).where(condition).order_by(Customer.id),
                                   execution_options=options))


def find_customer_by_identity(id_number: str | None = None, mobile: str | None = None,
                              unscoped: bool = False) -> Customer | None:
    """The one customer with this ID number (preferred) or mobile, for the import's upsert.

    None when nobody matches; :class:`AmbiguousIdentity` when several do, so an import never
    updates the wrong person.
    """
    found = find_customers_by_identity(id_number, mobile, unscoped=unscoped)
    if len(found) > 1:
        raise AmbiguousIdentity(f"{len(found)} customers match this "
                                f"{'ID number' if id_number else 'mobile'}")
    return found[0] if found else None


def _prefilled_customer_no() -> str:
    """A customer number passed from the 360 page's buttons (``?customer_no=``)."""
    return request.args.get("customer_no", "") if request else ""


class CustomerRefField(StringField):
    """A text field holding a customer number whose ``data`` is the Customer itself."""

    widget = BS3TextFieldWidget()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("default", _prefilled_customer_no)
        kwargs.setdefault("description", _l("Customer number, e.g. C000000123"))
        super().__init__(label or _l("Customer"), validators, **kwargs)
        self.raw_number = ""

    def process_data(self, value):
        self.data = value

    def process_formdata(self, valuelist):
        self.raw_number = (valuelist[0] if valuelist else "").strip()
        self.data = find_customer(self.raw_number) if self.raw_number else None

    def _value(self):
        if isinstance(self.data, Customer):
            return self.data.customer_no
        if isinstance(self.data, str):
            return self.data
        return self.raw_number

    def pre_validate(self, form):
        if isinstance(self.data, str):  # default text not submitted back
            self.data = find_customer(self.data)
        if self.data is None:
            if self.raw_number:
                raise ValidationError(_l("No customer with this number."))
            raise ValidationError(_l("Enter the customer number."))
