"""Which customers are due a greeting today: one INSERT ... SELECT per occasion.

Nothing is loaded into Python to decide: the date match, the status, the consent and the
channel (first channel in the occasion's order with an open grant and a contact detail) are
SQL, and the rows go straight into ``greeting_dispatch`` under its UNIQUE key with "do nothing on
conflict". So the cost is a few statements per occasion at any number of customers, and a
second selection of the same day (a retry, a duplicate job) adds nothing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, exists, extract, false, func, literal, null, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite

from backoffice.greetings import calendar
from backoffice.messaging import quiet as quiet_hours, registry
from backoffice.messaging.consent import granted_condition
from models.choices import TOP_TIERS
from models.customers import Customer
from models.greetings import GreetingDispatch, Occasion

GREETING_PURPOSES = ("greeting", "marketing")  # a marketing grant covers greetings too
INACTIVE_STATUSES = ("closed", "deceased")


@dataclass
class Selection:
    """What one occasion's selection found, by outcome."""

    occasion: str
    occasion_date: dt.date
    selected: int = 0
    deferred: int = 0
    skipped: dict | None = None


def date_condition(occasion: Occasion, target: dt.date, dialect: str):
    """SQL condition: the customer's occasion falls on ``target`` (or None: not today)."""
    if occasion.kind == "lunar_festival":
        if occasion.lunar_month and occasion.lunar_day and calendar.festival_falls_on(
                target, occasion.lunar_month, occasion.lunar_day):
            return true()
        return None
    days = calendar.anniversary_days(target)
    if occasion.kind in ("birthday", "anniversary"):
        column = Customer.birth_date if occasion.kind == "birthday" else Customer.onboarded_on
        month, day = extract("month", column), extract("day", column)
        matches = or_(*[and_(month == m, day == d) for m, d in days])
        if occasion.kind == "anniversary":  # the first anniversary is a year after opening
            matches = and_(matches, column <= target - dt.timedelta(days=365))
        return matches
    if occasion.kind == "custom_date":
        return _custom_date_condition(occasion.field_key, days, dialect)
    return None


def _custom_date_condition(field_key: str | None, days, dialect: str):
    """Month-day of a date custom field (stored as ISO text in the JSON document)."""
    from backoffice.fields import filters
    from backoffice.fields.registry import field_catalog

    spec = next((s for s in field_catalog("customer") if s.key == field_key), None)
    if spec is None or spec.type != "date" or spec.sensitive:
        return None
    month_day = func.substr(filters.element(spec, Customer, dialect), 6, 5)
    return month_day.in_([f"{m:02d}-{d:02d}" for m, d in days])


def channel_choice(occasion: Occasion):
    """SQL CASE: the first channel of the order the customer may be reached on, else NULL."""
    whens = []
    for channel in occasion.channels:
        reachable = _reachable(channel)
        if reachable is not None:
            whens.append((and_(granted_condition(Customer.id, channel, GREETING_PURPOSES),
                               reachable), literal(channel)))
    if not whens:
        return null()
    return case(*whens, else_=null())


def _reachable(channel: str):
    found = registry.get(channel)
    if found is None:
        return None
    if channel == "phone":  # greetings call only top tiers
        tier = func.coalesce(Customer.tier_override, Customer.tier)
        return and_(tier.in_(TOP_TIERS), found.reachable())
    return found.reachable()


def _any_consent(occasion: Occasion):
    grants = [granted_condition(Customer.id, ch, GREETING_PURPOSES) for ch in occasion.channels
              if _reachable(ch) is not None]
    return or_(*grants) if grants else false()


def _already(occasion: Occasion, target: dt.date):
    return exists(select(GreetingDispatch.id).where(
        GreetingDispatch.customer_id == Customer.id,
        GreetingDispatch.occasion_id == occasion.id,
        GreetingDispatch.occasion_date == target))


def select_occasion(session, occasion: Occasion, run_date: dt.date, now_utc: dt.datetime,
                    tz) -> Selection:
    """Count the day's candidates by outcome, then insert the dispatch rows of the selected."""
    target = run_date + dt.timedelta(days=occasion.lead_days or 0)
    result = Selection(occasion.code, target, skipped={})
    dialect = session.get_bind().dialect.name
    matches = date_condition(occasion, target, dialect)
    if matches is None:
        return result
    chosen = channel_choice(occasion)
    outcome = case(
        (Customer.status.in_(INACTIVE_STATUSES), literal("closed_or_deceased")),
        (_already(occasion, target), literal("already_dispatched")),
        (~_any_consent(occasion), literal("no_consent")),
        (chosen.is_(None), literal("no_contact")),
        else_=literal("selected"),
    ).label("outcome")
    counts = dict(session.execute(
        select(outcome, func.count()).select_from(Customer).where(matches).group_by(outcome)
    ).all())
    result.skipped = {k: v for k, v in counts.items() if k != "selected"}
    if not counts.get("selected"):
        return result
    result.selected, result.deferred = _insert(session, occasion, target, matches, chosen,
                                               now_utc, tz)
    return result


def _insert(session, occasion, target, matches, chosen, now_utc, tz) -> tuple[int, int]:
    """INSERT ... SELECT ... ON CONFLICT DO NOTHING; quiet channels at night start deferred."""
    quiet_channels = registry.quiet_channels()
    morning = (quiet_hours.defer_until(now_utc, quiet_channels[0], tz)  # None outside quiet hours
               if quiet_channels else None)
    quiet = chosen.in_(quiet_channels) if morning is not None else false()
    rows = (
        select(
            Customer.id, literal(occasion.id), literal(target), chosen,
            case((quiet, literal("deferred")), else_=literal("pending")),
            literal(0),
            (case((quiet, literal(morning)), else_=literal(now_utc)) if morning
             else literal(now_utc)),
            literal(now_utc),
        )
        .where(matches, Customer.status.notin_(INACTIVE_STATUSES), chosen.isnot(None),
               ~_already(occasion, target))
    )
    table = GreetingDispatch.__table__
    columns = ["customer_id", "occasion_id", "occasion_date", "channel", "status", "attempts",
               "next_attempt_at", "created_at"]
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)(table).from_select(columns, rows).on_conflict_do_nothing()
    mine = and_(GreetingDispatch.occasion_id == occasion.id,
                GreetingDispatch.occasion_date == target)
    before = session.scalar(select(func.count(GreetingDispatch.id)).where(mine))
    session.execute(insert)  # rowcount of INSERT ... SELECT is not reported by every driver
    inserted = session.scalar(select(func.count(GreetingDispatch.id)).where(mine)) - before
    deferred = 0
    if morning is not None and inserted:
        deferred = session.scalar(select(func.count(GreetingDispatch.id)).where(
            GreetingDispatch.occasion_id == occasion.id,
            GreetingDispatch.occasion_date == target, GreetingDispatch.status == "deferred",
            GreetingDispatch.created_at == now_utc))
    return inserted, deferred
