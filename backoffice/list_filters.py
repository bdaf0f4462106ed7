"""Exact-match text filters for list screens, instead of FAB's relation selects.

FAB's relation filter renders a select loading the whole related table (every customer, every
staff member); staff know a customer number or a username, so the base list view
(``backoffice.views_base``) swaps such a filter for a text box when a screen asks for it. The
match runs through the scoped session, so a number outside the user's scope finds nothing.
"""
from __future__ import annotations

from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import StringField

from models import Customer


class FilterCustomerNumber(BaseFilter):
    """List filter: records of the customer with exactly this customer number."""

    name = _l("Customer number is")
    arg_name = "cno"

    def apply(self, query, value):
        number = (value or "").strip().upper()
        if self.model is Customer:
            return query.filter(Customer.customer_no == number)
        ids = select(Customer.id).where(Customer.customer_no == number)
        return query.filter(self.model.customer_id.in_(ids))


class FilterStaffUsername(BaseFilter):
    """List filter: records whose staff relation (owner, assignee) has exactly this username."""

    name = _l("Username is")
    arg_name = "staff"

    def apply(self, query, value):
        from models import Staff

        column = getattr(self.model, f"{self.column_name}_id")
        ids = select(Staff.id).where(Staff.username == (value or "").strip())
        return query.filter(column.in_(ids))


def use_text_filter(view, column: str, filter_class, label) -> None:
    """Replace FAB's relation filter on ``column`` (a select loading the whole related table)
    with a text box and an exact-match filter."""
    view.search_form_extra_fields = {
        **(view.search_form_extra_fields or {}),
        column: StringField(label),
    }
    text_filter = [filter_class(column, view.datamodel)]
    view._filters._search_filters[column] = text_filter  # what the search form offers
    view._filters._all_filters[column] = text_filter  # what ``_flt_0_<column>`` applies
