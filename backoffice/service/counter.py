"""The teller's counter view: find the customer in front of you, see how to serve them.

A teller knows the customer number, or holds the ID card, or hears a mobile number. The lookup
tries the customer number, then the ID number and the mobile through their blind indexes
(``refs.find_customers_by_identity``: exact match, never a scan of decrypted values), always in
the signed-in user's record scope, so a customer outside it is "not found" (404) exactly like a
number that does not exist. The card puts the service flags and notes first, then consent.
Each card shown is written to the operation log (who looked whom up, by which kind of key).
"""
from __future__ import annotations

import re

from flask import request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.audit import log
from backoffice.customers.refs import find_customer, find_customers_by_identity
from backoffice.extensions import db
from backoffice.formatting import local_time
from backoffice.service.flags import service_flags
from backoffice.service.overview import consent_overview
from backoffice.security.presentation import present
from models import Customer, choices

ID_NUMBER = re.compile(r"^\d{15}$|^\d{17}[\dXx]$")
MOBILE = re.compile(r"^\+?(?:86)?1[3-9]\d{9}$")


def lookup(query: str) -> tuple[str | None, list[Customer]]:
    """(kind of key, customers in scope) for what the teller typed."""
    query = re.sub(r"[\s-]", "", query or "")
    if not query:
        return None, []
    customer = find_customer(query)
    if customer is not None:
        return "customer_no", [customer]
    for kind, pattern, keyword in (("id_number", ID_NUMBER, "id_number"),
                                   ("mobile", MOBILE, "mobile")):
        if pattern.match(query):
            try:
                return kind, find_customers_by_identity(**{keyword: query})
            except ValueError:  # not a valid value of that kind: nobody can hold it
                return kind, []
    return None, []


class CounterView(BaseView):
    """``/service/counter/?q=...`` and ``/service/counter/customer/<pk>``."""

    route_base = "/service/counter"
    class_permission_name = "Counter"
    method_permission_name = {"lookup": "read", "card": "read"}  # noqa: RUF012 - FAB settings
    base_permissions = ["can_read"]  # noqa: RUF012
    default_view = "lookup"

    @expose("/")
    @has_access
    def lookup(self):
        query = request.args.get("q", "").strip()
        kind, customers = lookup(query)
        if query and not customers:
            return self._render(query, [], kind), 404
        return self._render(query, customers, kind)

    @expose("/customer/<int:pk>")
    @has_access
    def card(self, pk):
        customer = db.session.scalars(select(Customer).where(Customer.id == pk)).one_or_none()
        if customer is None:
            return self._render("", [], "record"), 404
        return self._render("", [customer], "record")

    def _render(self, query, customers, kind):
        for customer in customers:
            log.record("counter.view", entity="Customer", entity_id=customer.id,
                       customer_id=customer.id, detail={"looked_up_by": kind})
        if customers:
            db.session.commit()
        # An ID or mobile number is never echoed back into the page (masking applies to what
        # the teller typed as much as to what the database holds).
        shown_query = "" if kind in ("id_number", "mobile") else query
        return self.render_template("service/counter.html", query=shown_query,
                                    customers=customers,
                                    searched=bool(query or kind), title=_l("Counter view"),
                                    present=present, local_time=local_time, choices=choices,
                                    crm_service_flags=service_flags,
                                    crm_consent_overview=consent_overview)


def register(appbuilder) -> None:
    from config import roles as r

    appbuilder.add_view(CounterView, r.MENU_COUNTER, label=_l("Counter view"),
                        icon="fa-id-card-o", category=r.CATEGORY_SERVICE,
                        category_label=_l("Service"), category_icon="fa-comments")
