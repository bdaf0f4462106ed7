"""The search box in the navigation bar: find a customer by number, name, ID number or mobile.

Staff type what they have: a customer number, the first characters of a name, the ID card or a
mobile number heard on the phone. ID numbers and mobiles are encrypted, so they are matched
exactly through their blind indexes (``Customer.id_number == ...`` compiles to the HMAC), never
by decrypting or by a partial match; names match by prefix on ``lower(name)``, the form the
list's indexed "starts with" filter uses (migration 0015 indexes it on PostgreSQL).

Every query runs through the scoped session (``backoffice.security.scopes``), so a customer
outside the viewer's scope does not exist for the search: it is neither returned nor counted,
and the answer for a number held by such a customer is the answer for a number nobody holds.
The answer says only whether more hits exist *within the scope* (one row beyond the page),
never a total. What each hit shows is what the field-access policy lets the viewer see (ID
number and mobile masked). Each search is written to the operation log like a list read: what
was asked (redacted: an ID number or mobile is stored masked) and the ids returned.
"""
from __future__ import annotations

import re
import unicodedata

from flask import jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from backoffice.customers.labels import CUSTOMER_LABELS
from backoffice.extensions import db
from backoffice.security.presentation import present
from models import Customer
from models.validators import (
    check_clean_text,
    check_customer_no,
    check_mobile,
    check_prc_id,
    normalise_identifier,
    normalise_mobile,
    normalise_prc_id,
)

PAGE = 8
MAX_LENGTH = 40
_DIGITS_ONLY = re.compile(r"^\+?[\d\s\-]+[Xx]?$")
_PLAIN_ID = re.compile(r"^[0-9A-Za-z]{5,20}$")  # passport, HK/Macau permit, military ID ...


class BadQuery(ValueError):
    """What was typed cannot be searched (the message says why, and never repeats the value)."""


def clean_query(raw) -> str:
    """The query as searched: NFKC (full-width digits and letters typed on a Chinese keyboard),
    trimmed, inner runs of spaces folded; refused when too long or holding invisible characters."""
    text = raw if isinstance(raw, str) else ""
    problem = check_clean_text(text)
    if problem is not None:
        raise BadQuery(str(problem))
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_LENGTH:
        raise BadQuery(str(_l("Type at most %(max)s characters.", max=MAX_LENGTH)))
    return text


def _like_prefix(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _scoped(statement, limit: int) -> list[Customer]:
    """Run a customer query through the scoped session (the record scope is added there)."""
    return list(db.session.scalars(
        statement.options(joinedload(Customer.branch)).limit(limit)))


Hit = tuple[Customer, str]  # a customer and what it matched by


def find(text: str, limit: int | None = None) -> tuple[list[Hit], bool, str | None]:
    """(hits as (customer, what matched), whether more hits exist in scope, hint).

    ``hint`` is ``"incomplete"`` when the query is a run of digits that is neither a whole ID
    number nor a whole mobile (exact matching needs the whole value); otherwise None.
    """
    if not text:
        return [], False, None
    limit = limit or PAGE
    hits: dict[int, Hit] = {}

    def add(customers, matched):
        for customer in customers:
            hits.setdefault(customer.id, (customer, matched))

    number = normalise_identifier(text)
    if check_customer_no(number) is None:  # a name in Chinese cannot be a customer number
        add(_scoped(select(Customer).where(
            Customer.customer_no.in_({number, number.upper()})), 2), "customer_no")
    digits_only = bool(_DIGITS_ONLY.match(text))
    identity = False
    if check_prc_id(text) is None:
        identity = True
        add(_scoped(select(Customer).where(Customer.id_number == normalise_prc_id(text))
                    .order_by(Customer.id), limit + 1), "id_number")
    elif not digits_only and _PLAIN_ID.match(text):
        # Other identity documents (passport, permits): exact, through the same blind index.
        add(_scoped(select(Customer).where(Customer.id_number == text)
                    .order_by(Customer.id), limit + 1), "id_number")
    if digits_only and check_mobile(text) is None:
        identity = True
        add(_scoped(select(Customer).where(Customer.mobile == normalise_mobile(text))
                    .order_by(Customer.id), limit + 1), "mobile")
    if not digits_only:
        # No ORDER BY over the prefix: the index finds the first matches and stops; a short
        # prefix ("王") can match tens of thousands of customers, and sorting them all for eight
        # rows costs more than the whole budget. The page is sorted below.
        add(_scoped(select(Customer).where(
            func.lower(Customer.name).like(_like_prefix(text), escape="\\")), limit + 1),
            "name")
    found = list(hits.values())
    more = len(found) > limit
    found = sorted(found[:limit], key=lambda hit: (hit[0].name, hit[0].customer_no))
    hint = "incomplete" if digits_only and not identity and not found else None
    return found, more, hint


def hit_json(customer: Customer, matched: str) -> dict:
    """One hit as the viewer may see it (the policy masks the ID number and the mobile)."""
    return {
        "url": url_for("CustomerView.show", pk=customer.id),
        "customer_no": customer.customer_no,
        "name": present(customer, "name", customer.name),
        "branch": customer.branch.name if customer.branch is not None else "",
        "id_number": present(customer, "id_number", customer.id_number) or "",
        "mobile": present(customer, "mobile", customer.mobile) or "",
        "matched": matched,
    }


MATCH_LABELS = {key: CUSTOMER_LABELS[key] for key in ("customer_no", "name", "id_number",
                                                       "mobile")}


def log_search(text: str, hits, more: bool) -> None:
    """The search on record, like a list read: what was asked and which customers answered.

    The query is filed under the kind it was matched as, so an ID number or a mobile is masked
    by its field name as well as by its shape (``backoffice.audit.redact``)."""
    from backoffice.audit.log import record

    kinds = sorted({matched for _customer, matched in hits})
    key = next((k for k in ("id_number", "mobile") if k in kinds), None)
    if key is None:
        key = "mobile" if check_mobile(text) is None else (
            "id_number" if check_prc_id(text) is None else "search")
    ids = [customer.id for customer, _matched in hits]
    record("search", entity="Customer", detail={
        "query": {key: text}, "matched": kinds, "ids": ids, "returned": len(ids),
        "more": more})


class CustomerSearchView(BaseView):
    """``/customers/search/?q=`` (JSON, as the box is typed in) and ``/customers/search/open``
    (Enter: the 360 page of a single hit, else a page of the hits)."""

    route_base = "/customers/search"
    class_permission_name = "Customer"  # whoever reads customers may search them
    method_permission_name = {"results": "read", "open": "read"}  # noqa: RUF012 - FAB settings
    base_permissions = ["can_read"]  # noqa: RUF012
    default_view = "open"

    def _search(self):
        try:
            text = clean_query(request.args.get("q", ""))
        except BadQuery as problem:
            return None, problem
        hits, more, hint = find(text)
        if text:
            log_search(text, hits, more)
        return (text, hits, more, hint), None

    @expose("/")
    @has_access
    def results(self):
        found, problem = self._search()
        if problem is not None:
            return jsonify(error=str(problem)), 400
        text, hits, more, hint = found
        return jsonify(
            results=[{**hit_json(c, m), "matched_label": str(MATCH_LABELS[m])} for c, m in hits],
            more=more,
            message=_message(text, hits, more, hint))

    @expose("/open")
    @has_access
    def open(self):
        found, problem = self._search()
        if problem is not None:
            return self.render_template("customers/search.html", title=_l("Search"), query="",
                                        hits=[], problem=str(problem)), 400
        text, hits, more, hint = found
        if len(hits) == 1 and not more:
            return redirect(url_for("CustomerView.show", pk=hits[0][0].id))
        # An ID or mobile number is not echoed back into the page (as at the counter).
        return self.render_template(
            "customers/search.html", title=_l("Search"),
            query="" if _DIGITS_ONLY.match(text) or any(
                m in ("id_number", "mobile") for _c, m in hits) else text,
            hits=[hit_json(c, m) | {"matched_label": MATCH_LABELS[m]} for c, m in hits],
            message=_message(text, hits, more, hint), problem=None)


def _message(text: str, hits, more: bool, hint: str | None) -> str:
    if not text:
        return ""
    if hint == "incomplete":
        return str(_l("Type the whole ID number (18 characters) or mobile number (11 digits)."))
    if not hits:
        return str(_l("No customer found."))
    if more:
        return str(_l("More customers match: type more to narrow the search."))
    return ""
