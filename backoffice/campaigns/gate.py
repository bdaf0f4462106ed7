"""The suitability gate (适当性): who may be offered a product through which channel.

A customer is dropped, for each reason that applies, when

* ``risk``: their risk tolerance (C1–C5) is below the product's risk level (R1–R5), or unknown;
* ``expired``: their risk assessment is missing or older than the validity period
  (``CRM_RISK_ASSESSMENT_VALIDITY_DAYS``, default 365 days after ``risk_assessed_on``);
* ``consent``: they gave marketing consent on none of the campaign's channels;
* ``elderly``: they are 65 or older and the product is rated R4 or above.

The conditions are SQL over the customer row, so the gate filters the whole candidate set in the
launch query; :func:`python_failures` states the same rule over plain values for tests and for
explaining a single customer's exclusion. The levels, the elderly cap and the validity period
are the compliance rule's own (``backoffice.suitability``), which the next-best offers apply too.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, true

from backoffice.segments.rules import years_before
from backoffice.suitability import ELDERLY_AGE, ELDERLY_MAX_LEVEL, level
from models.campaigns import CONSENT_COLUMNS
from models.customers import Customer

REASONS = ("risk", "expired", "consent", "elderly")
# What each reason means to a reader: the launch report's drops, and why a customer a rule
# adds to a running campaign was refused.
REASON_LABELS = {"risk": _l("Risk tolerance below the product's risk level"),
                 "expired": _l("Risk assessment missing or expired"),
                 "consent": _l("No marketing consent for the channels"),
                 "elderly": _l("Aged 65 or older, product R4 or above")}


def allowed_tolerances(product_risk: str) -> list[str]:
    return [f"C{n}" for n in range(level(product_risk) or 5, 6)]


def pass_conditions(product_risk: str, channels, today: dt.date, validity_days: int) -> dict:
    """``{reason: SQL condition that holds when the customer passes it}``."""
    cutoff = today - dt.timedelta(days=validity_days)
    consents = [getattr(Customer, CONSENT_COLUMNS[c]).is_(True) for c in channels
                if c in CONSENT_COLUMNS]
    elderly_bound = years_before(today, ELDERLY_AGE)
    high_risk = (level(product_risk) or 5) > ELDERLY_MAX_LEVEL
    return {
        "risk": Customer.risk_tolerance.in_(allowed_tolerances(product_risk)),
        "expired": Customer.risk_assessed_on >= cutoff,
        "consent": or_(*consents) if consents else Customer.id.is_(None),
        "elderly": (or_(Customer.birth_date.is_(None), Customer.birth_date > elderly_bound)
                    if high_risk else true()),
    }


def passes(product_risk: str, channels, today: dt.date, validity_days: int):
    return and_(*pass_conditions(product_risk, channels, today, validity_days).values())


def python_failures(customer: dict, product_risk: str, channels, today: dt.date,
                    validity_days: int) -> set[str]:
    """The reasons a customer (plain values) fails the gate; empty when they pass."""
    failures = set()
    tolerance = level(customer.get("risk_tolerance"))
    if tolerance is None or tolerance < (level(product_risk) or 5):
        failures.add("risk")
    assessed = customer.get("risk_assessed_on")
    if assessed is None or assessed < today - dt.timedelta(days=validity_days):
        failures.add("expired")
    if not any(customer.get(CONSENT_COLUMNS[c]) for c in channels if c in CONSENT_COLUMNS):
        failures.add("consent")
    birth = customer.get("birth_date")
    if (level(product_risk) or 5) > ELDERLY_MAX_LEVEL and birth is not None:
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        if age >= ELDERLY_AGE:
            failures.add("elderly")
    return failures
