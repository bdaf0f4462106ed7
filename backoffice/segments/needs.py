"""Needs of one customer with their evidence, and the next-best-offer list built from them.

A need is a membership in a need detector (refreshed with the segments). Its evidence is the
detector's conditions with the customer's values now, read in one query. The offers are active
products of the categories the detector names that suit the customer (the suitability rule of
``backoffice.suitability``, which the campaign gate applies too): risk level within their
tolerance, a current risk assessment, not R4+ at 65 or older, and not already held.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from backoffice import suitability
from backoffice.extensions import db
from backoffice.segments import rules as r
from models import Account, Product, Segment, SegmentMembership
from models.base import utcnow
from models.customers import Customer

OFFERS_PER_NEED = 3
MONEY_TYPES = ("money",)


def customer_needs(customer, fields, *, show_money: bool, validity_days: int) -> dict:
    """``{"needs": [...], "offers": [...], "assessment_current": bool}`` for the 360 page."""
    rows = db.session.execute(
        select(Segment, SegmentMembership.since)
        .join(SegmentMembership, SegmentMembership.segment_id == Segment.id)
        .where(SegmentMembership.customer_id == customer.id, Segment.kind == "need",
               Segment.active.is_(True)).order_by(Segment.priority, Segment.id)).all()
    today = utcnow().date()
    values = _current_values(customer, [seg.rule for seg, _since in rows], fields, today)
    needs = []
    for segment, since in rows:
        evidence = []
        for condition in r.conditions_of(segment.rule):
            field = fields.get(condition["field"])
            if field is None:
                continue
            value = values.get(field.key)
            if field.type in MONEY_TYPES and not show_money:
                value = None
                shown = "***"
            else:
                shown = _shown(value)
            evidence.append({"label": field.label, "op": condition["op"],
                             "threshold": condition["value"], "value": shown})
        needs.append({"segment": segment, "since": since, "evidence": evidence})
    current = (customer.risk_assessed_on is not None and customer.risk_assessed_on
               >= today - dt.timedelta(days=validity_days))
    offers = _offers(customer, [s for s, _since in rows], today) if current else []
    return {"needs": needs, "offers": offers, "assessment_current": current}


def _current_values(customer, rules, fields, today) -> dict:
    keys = set()
    for rule in rules:
        keys |= r.fields_used(rule)
    columns = [(k, fields[k]) for k in sorted(keys) if k in fields and fields[k].kind != "custom"]
    values = {}
    if columns:
        dialect = db.session.get_bind().dialect.name
        row = db.session.execute(select(*[f.sql(today, dialect) for _k, f in columns])
                                 .where(Customer.id == customer.id)).one_or_none()
        for (key, field), value in zip(columns, row or ()):
            values[key] = _as_units(field, value, today)
    for key in keys:
        if key.startswith("custom."):
            values[key] = (customer.custom_fields or {}).get(key.split(".", 1)[1])
    return values


def _as_units(field, value, today):
    """Date-based metrics are shown as the number they are compared as (days, years)."""
    if value is None or not field.date_unit:
        return value
    day = value.date() if isinstance(value, dt.datetime) else value
    if isinstance(day, str):
        day = dt.date.fromisoformat(day[:10])
    if field.date_unit == "days":
        return (today - day).days
    return today.year - day.year - ((today.month, today.day) < (day.month, day.day))


def _shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _offers(customer, segments, today) -> list:
    categories = []
    for segment in segments:
        categories += [c for c in segment.offer_categories or [] if c not in categories]
    if not categories:
        return []
    tolerance = suitability.level(customer.risk_tolerance) or 0
    held = select(Account.product_id).where(Account.customer_id == customer.id,
                                            Account.status == "open")
    products = db.session.scalars(
        select(Product).where(Product.active.is_(True), Product.category.in_(categories),
                              Product.id.not_in(held)).order_by(Product.risk_level,
                                                                Product.code)).all()
    elderly = (customer.birth_date is not None
               and customer.birth_date <= r.years_before(today, suitability.ELDERLY_AGE))
    suitable = [p for p in products if (suitability.level(p.risk_level) or 5) <= tolerance
                and not (elderly and (suitability.level(p.risk_level) or 5)
                         > suitability.ELDERLY_MAX_LEVEL)]
    offers = []
    for category in categories:
        offers += [p for p in suitable if p.category == category][:OFFERS_PER_NEED]
    return offers
