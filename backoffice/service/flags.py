"""Personalised-service flags as staff see them: built-in ones derived from the record, plus
the admin-defined flags with their notes. Shown on the customer 360 page and counter views.

Elderly is derived from the birth date (65 or older, today) as well as the stored flag, so a
customer turns elderly on their birthday without anyone editing the record.
"""
from __future__ import annotations

import datetime as dt
import functools

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm import joinedload

ELDERLY_AGE = 65


def age_on(birth: dt.date | None, day: dt.date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def service_flags(customer, today: dt.date | None = None) -> list[dict]:
    """[{code, label, note}] for the customer, built-in ones first."""
    today = today or dt.date.today()
    flags = []
    age = age_on(customer.birth_date, today)
    if customer.flag_elderly or (age is not None and age >= ELDERLY_AGE):
        flags.append({"code": "elderly", "label": _l("Elderly"),
                      "note": _l("Age %(age)s", age=age) if age is not None else ""})
    if customer.flag_disability:
        flags.append({"code": "disability", "label": _l("Disability"), "note": ""})
    if customer.customer_type == "corporate":
        flags.append({"code": "corporate", "label": _l("Corporate"), "note": ""})
    if customer.flag_vip or customer.effective_tier in ("private_banking", "wealth", "vip"):
        flags.append({"code": "vip", "label": _l("VIP"), "note": ""})
    for flag in _custom_flags(customer):
        if flag.flag_type is not None and flag.flag_type.active:
            flags.append({"code": flag.flag_type.code, "label": str(flag.flag_type),
                          "note": flag.note or ""})
    return flags


def _custom_flags(customer) -> list:
    """The admin-defined flags set on the customer, with their types.

    Read by a statement built once, with the types in the same query, unless the customer's
    collection is loaded already (an export's eager load) or the customer is not stored yet:
    as a lazy load, each 360 page built the collection's statement and its cache key anew,
    then loaded each flag's type with a query of its own.
    """
    if "service_flags" in customer.__dict__:
        return customer.service_flags
    state = inspect(customer)
    if state.session is None or state.key is None:
        return getattr(customer, "service_flags", None) or []
    return state.session.scalars(_flags_statement(), {"flags_customer": customer.id}).all()


@functools.cache
def _flags_statement():
    from models import CustomerServiceFlag

    return (select(CustomerServiceFlag)
            .where(CustomerServiceFlag.customer_id == bindparam("flags_customer"))
            .options(joinedload(CustomerServiceFlag.flag_type))
            .order_by(CustomerServiceFlag.id))


def consent_summary(overview: dict, purpose: str = "marketing") -> list[dict]:
    """Per channel, the statement in force for ``purpose``: granted, refused or not asked."""
    summary = []
    for channel, label in overview["channels"]:
        row = overview["current"].get((channel, purpose))
        state = "none" if row is None else ("granted" if row.granted else "refused")
        summary.append({"channel": channel, "label": label, "state": state})
    return summary


def _header_flags(customer) -> dict | None:
    flags = service_flags(customer)
    if not flags and not customer.service_notes:
        return None
    return {"service_flags": flags}


def _overview(customer) -> dict:
    """The customer's consent statements, read once for the header and the profile tab."""
    from backoffice.customers.panels import per_request
    from backoffice.service.overview import consent_overview

    return per_request(f"consent:{customer.id}", lambda: consent_overview(customer))


def _header_consent(customer) -> dict:
    from backoffice.service.overview import PURPOSE_LABELS

    return {"consent_summary": consent_summary(_overview(customer)),
            "purpose_label": PURPOSE_LABELS["marketing"]}


def _consent_panel(customer) -> dict:
    return {"consent": _overview(customer)}


def register_customer_panels() -> None:
    """The 360 page: service flags and the marketing-consent summary in the header (staff at
    the counter see them first), the full consent matrix on the profile tab."""
    from backoffice.customers.panels import HEADER, Panel, register_panel, requires

    reads_consent = requires("can_read", "Consent")
    register_panel(Panel("service_flags", HEADER, "service/_customer_flags.html",
                         _header_flags, order=20))
    register_panel(Panel("consent_summary", HEADER, "service/_customer_consent_summary.html",
                         _header_consent, reads_consent, order=30))
    register_panel(Panel("consent", "profile", "service/_customer_consent.html",
                         _consent_panel, reads_consent, order=30))
