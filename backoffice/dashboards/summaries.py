"""Refreshing ``dashboard_summary``: every metric is one set-based INSERT ... SELECT.

A metric is a *fact query*: one row per fact (a customer, an interaction, a task, a month of
transactions of a customer) with the customer's ``branch_id``, ``owner_id`` and ``teller_id``,
a ``dim`` (the dimension value the chart groups by) and an optional ``amount``. The refresh turns
it into summary rows at the record scopes' grain (see ``models.summaries``): grouped by owner,
and again by serving teller where the teller is not the owner.

Rooms add metrics with :func:`register_metric` (for example the churn matrix from
``churn_score``); the refresh job picks them up. The whole refresh is one transaction: readers
keep seeing the previous figures until it commits.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, cast, func, insert, literal, null, or_, select, union_all

from models import Account, Customer, FollowUp, Interaction, Product, Transaction
from models.base import Money, utcnow
from models.summaries import DashboardSummary

SUMMARY = DashboardSummary.__table__
COLUMNS = ("metric", "dim", "branch_id", "staff_id", "staff_role", "count", "amount",
           "refreshed_at")
MONTHS = 12


@dataclass(frozen=True)
class Metric:
    """A named fact query; ``facts(session, now)`` returns a Select with the columns
    ``branch_id, owner_id, teller_id, dim, amount`` (amount may be NULL)."""

    name: str
    facts: Callable


_METRICS: dict[str, Metric] = {}


def register_metric(name: str, facts: Callable) -> None:
    """Add (or replace) a metric the refresh computes; rooms call this at import time."""
    _METRICS[name] = Metric(name, facts)


def metrics() -> list[Metric]:
    return list(_METRICS.values())


def month_of(session, column):
    """'YYYY-MM' of a date or timestamp column, in SQL, on PostgreSQL and SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def months_back(now: dt.datetime, months: int = MONTHS) -> dt.date:
    """The first day of the month ``months - 1`` months before ``now``'s month."""
    index = now.year * 12 + now.month - 1 - (months - 1)
    return dt.date(index // 12, index % 12 + 1, 1)


def _book(facts):
    """Summary rows of one metric from its fact subquery, owner rows plus teller rows."""
    owner = select(facts.c.dim, facts.c.branch_id, facts.c.owner_id.label("staff_id"),
                   literal("owner").label("staff_role"), func.count().label("count"),
                   func.sum(facts.c.amount).label("amount")
                   ).group_by(facts.c.dim, facts.c.branch_id, facts.c.owner_id)
    teller = select(facts.c.dim, facts.c.branch_id, facts.c.teller_id.label("staff_id"),
                    literal("teller").label("staff_role"), func.count().label("count"),
                    func.sum(facts.c.amount).label("amount")
                    ).where(facts.c.teller_id.is_not(None),
                            or_(facts.c.owner_id.is_(None), facts.c.teller_id != facts.c.owner_id)
                            ).group_by(facts.c.dim, facts.c.branch_id, facts.c.teller_id)
    return union_all(owner, teller).subquery()


def refresh_metric(session, metric: Metric, now: dt.datetime) -> int:
    """Replace one metric's rows (in the caller's transaction); returns the rows written."""
    session.execute(SUMMARY.delete().where(SUMMARY.c.metric == metric.name))
    rows = _book(metric.facts(session, now).subquery())
    source = select(literal(metric.name), rows.c.dim, rows.c.branch_id, rows.c.staff_id,
                    rows.c.staff_role, rows.c.count, rows.c.amount, literal(now))
    session.execute(insert(SUMMARY).from_select(list(COLUMNS), source))
    return session.execute(select(func.count()).select_from(SUMMARY)
                           .where(SUMMARY.c.metric == metric.name)).scalar_one()


def refresh_all(session, now: dt.datetime | None = None, progress=None) -> dict[str, int]:
    """Recompute every registered metric; ``progress.update(done, total=, message=)``."""
    now = now or utcnow()
    written = {}
    todo = metrics()
    for number, metric in enumerate(todo):
        if progress is not None:
            progress.update(number, total=len(todo),
                            message=_l("Refreshing the figure %(name)s", name=metric.name))
        written[metric.name] = refresh_metric(session, metric, now)
    return written


# --- the built-in metrics ---------------------------------------------------------------------

def no_amount():
    """A typed NULL amount (PostgreSQL cannot sum an untyped one)."""
    return cast(null(), Money).label("amount")


def _customer_book(*extra):
    c = Customer.__table__
    return (c.c.branch_id, c.c.owner_id, c.c.teller_id, *extra)


def customers_by_tier(session, now):
    """Live customers (not closed) by effective tier, with their total financial assets
    (open, non-loan accounts)."""
    c, a, p = Customer.__table__, Account.__table__, Product.__table__
    assets = (select(a.c.customer_id, func.sum(a.c.balance).label("assets"))
              .select_from(a.join(p, p.c.id == a.c.product_id))
              .where(a.c.status == "open", p.c.category != "loan")
              .group_by(a.c.customer_id).subquery())
    tier = func.coalesce(c.c.tier_override, c.c.tier, "")
    return (select(*_customer_book(tier.label("dim"),
                                   func.coalesce(assets.c.assets, 0).label("amount")))
            .select_from(c.outerjoin(assets, assets.c.customer_id == c.c.id))
            .where(c.c.status != "closed"))


def new_customers(session, now):
    """Customers onboarded per month, the last twelve months."""
    c = Customer.__table__
    return select(*_customer_book(month_of(session, c.c.onboarded_on).label("dim"),
                                  no_amount())
                  ).where(c.c.onboarded_on >= months_back(now))


def lost_customers(session, now):
    """Customers who closed their relationship per month, the last twelve months."""
    c = Customer.__table__
    return select(*_customer_book(month_of(session, c.c.closed_on).label("dim"),
                                  no_amount())
                  ).where(c.c.status == "closed", c.c.closed_on >= months_back(now))


def interactions_by_channel(session, now):
    """Interactions of the last twelve months by channel."""
    c, i = Customer.__table__, Interaction.__table__
    return (select(*_customer_book(i.c.channel.label("dim"), no_amount()))
            .select_from(i.join(c, c.c.id == i.c.customer_id))
            .where(i.c.occurred_at >= dt.datetime.combine(months_back(now), dt.time())))


def open_tasks(session, now):
    """Open follow-ups, split into overdue (due before the refresh) and not yet due."""
    c, f = Customer.__table__, FollowUp.__table__
    state = case((f.c.due_at < now, "overdue"), else_="open")
    return (select(*_customer_book(state.label("dim"), no_amount()))
            .select_from(f.join(c, c.c.id == f.c.customer_id))
            .where(f.c.status == "open"))


def transaction_flow(session, now):
    """Money in and out per month (the big table: read once per refresh, never per view)."""
    c, t = Customer.__table__, Transaction.__table__
    month = month_of(session, t.c.occurred_at)
    per_customer = (select(t.c.customer_id, (month + ":" + t.c.direction).label("dim"),
                           func.sum(t.c.amount).label("amount"))
                    .where(t.c.occurred_at >= dt.datetime.combine(months_back(now), dt.time()))
                    .group_by(t.c.customer_id, month, t.c.direction).subquery())
    return (select(*_customer_book(per_customer.c.dim, per_customer.c.amount))
            .select_from(per_customer.join(c, and_(c.c.id == per_customer.c.customer_id))))


for _name, _facts in (("customers_by_tier", customers_by_tier), ("new_customers", new_customers),
                      ("lost_customers", lost_customers),
                      ("interactions_by_channel", interactions_by_channel),
                      ("open_tasks", open_tasks), ("transaction_flow", transaction_flow)):
    register_metric(_name, _facts)
