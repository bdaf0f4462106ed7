"""Personalised-service flags as staff see them: built-in ones derived from the record, plus
the admin-defined flags with their notes. Shown on the customer 360 page and counter views.

Elderly is derived from the birth date (65 or older, today) as well as the stored flag, so a
customer turns elderly on their birthday without anyone editing the record.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l

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
    for flag in getattr(customer, "service_flags", None) or []:
        if flag.flag_type is not None and flag.flag_type.active:
            flags.append({"code": flag.flag_type.code, "label": str(flag.flag_type),
                          "note": flag.note or ""})
    return flags


def install(app) -> None:
    """Templates call ``crm_service_flags(customer)`` and ``crm_consent_overview(customer)``."""
    from backoffice.service.overview import consent_overview

    app.jinja_env.globals["crm_service_flags"] = service_flags
    app.jinja_env.globals["crm_consent_overview"] = consent_overview
