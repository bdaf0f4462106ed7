"""Computed customer metrics a rule can test, as SQL, in a registry other rooms extend.

Most metrics are aggregates over one *source*: a customer child table (accounts with their
product, transactions, interactions). Each such metric is written once as a conditional
aggregate over the source's rows (``count(CASE WHEN <in the last 30 days> THEN 1 END)``), which
gives both SQL forms the features need:

* correlated, for one customer row: ``(SELECT <aggregate> FROM source WHERE customer_id =
  customer.id)``. The rule builder's live count and the need evidence use it: one query.
* grouped, for everyone at once: the nightly refresh computes every metric of a source in ONE
  ``GROUP BY customer_id`` pass over that table (not one pass per metric, and not a correlated
  subquery per customer and rule), and joins the passes to the customers.

``kind`` says how to read the value: ``number``; ``days_since`` / ``years_since`` (the SQL value
is a date or time, the metric the whole days / years from it to ``today``; rules on them compile
to date bounds, which are portable, exact and use the indexes). A metric with no rows (no
transactions) reads ``empty`` (0 for counts and sums, NULL for averages and "last" dates).

Other rooms add metrics with :func:`register_metric` at import time, either over a source
(``source=`` and ``value=``) or with their own ``correlated`` (and optionally ``grouped``)
builders; the churn room registers ``churn_probability`` this way. The rule builder lists
whatever is registered.

The 3-month average balance is approximated, as no balance history is kept: today's balances of
asset accounts minus each flow of the last 90 days weighted by the share of the window after it
(a flow on day t changed every daily balance after t): ``avg = B_now − Σ net_i·(t_i − start)/90``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Float, and_, case, cast, func, literal, select

from models.banking import Account, Transaction
from models.catalog import Product
from models.customers import Customer
from models.metrics import LIABILITY_CATEGORIES
from models.service import Interaction

METRIC_KINDS = ("number", "days_since", "years_since")
AVERAGE_BALANCE_DAYS = 90


@dataclass(frozen=True)
class Source:
    """A table (with joins) whose rows belong to a customer, read in one grouped pass."""

    name: str
    customer_id: object
    from_clause: Callable  # () -> selectable
    where: Callable | None = None  # (today) -> condition on every row of the pass


SOURCES = {
    "accounts": Source("accounts", Account.customer_id, lambda: Account.__table__.join(
        Product.__table__, Product.id == Account.product_id),
        lambda today: Account.status == "open"),
    "transactions": Source("transactions", Transaction.customer_id,
                           lambda: Transaction.__table__),
    "asset_flows": Source(
        "asset_flows", Transaction.customer_id,
        lambda: Transaction.__table__.join(Account.__table__,
                                           Account.id == Transaction.account_id)
        .join(Product.__table__, Product.id == Account.product_id),
        lambda today: and_(Transaction.occurred_at >= window_start(today, AVERAGE_BALANCE_DAYS),
                           Account.status == "open",
                           Product.category.not_in(LIABILITY_CATEGORIES))),
    "interactions": Source("interactions", Interaction.customer_id,
                           lambda: Interaction.__table__),
}


@dataclass(frozen=True)
class Metric:
    key: str
    label: object
    type: str  # integer | decimal | money (number kind); integer for the date kinds
    kind: str
    correlated: Callable | None = None  # (customer_id, today, dialect) -> scalar SQL
    grouped: Callable | None = None  # (today, dialect) -> select(customer_id, value)
    empty: object = None
    help: object = None
    source: str | None = None
    value: Callable | None = None  # (today, dialect) -> aggregate over the source's rows

    def sql_for(self, customer_id, today, dialect):
        """The metric of the customer in ``customer_id``, as one scalar SQL expression."""
        if self.source is None:
            return self.correlated(customer_id, today, dialect)
        source = SOURCES[self.source]
        query = select(self.value(today, dialect)).select_from(source.from_clause()).where(
            source.customer_id == customer_id)
        if source.where is not None:
            query = query.where(source.where(today))
        expr = query.scalar_subquery()
        return expr if self.empty is None else func.coalesce(expr, self.empty)


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add (or replace, by key) a metric the rule builder offers."""
    if metric.kind not in METRIC_KINDS:
        raise ValueError(f"unknown metric kind {metric.kind!r}")
    if metric.source is None and metric.correlated is None:
        raise ValueError(f"metric {metric.key!r} needs a source and value, or correlated")
    if metric.source is not None and metric.source not in SOURCES:
        raise ValueError(f"unknown metric source {metric.source!r}")
    METRICS[metric.key] = metric
    return metric


def grouped_pass(source_name: str, metrics, today, dialect):
    """One ``GROUP BY customer_id`` over a source computing several metrics (``m_<key>``)."""
    source = SOURCES[source_name]
    query = select(source.customer_id.label("customer_id"),
                   *[m.value(today, dialect).label("m_" + m.key) for m in metrics]
                   ).select_from(source.from_clause())
    if source.where is not None:
        query = query.where(source.where(today))
    return query.group_by(source.customer_id)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def window_start(today: dt.date, days: int) -> dt.datetime:
    """The first instant of the ``days``-day window ending with ``today`` (times are naive UTC)."""
    return midnight(today) - dt.timedelta(days=days - 1)


def _days_after(later, earlier: dt.datetime, dialect: str):
    """Fractional days from ``earlier`` (a Python time) to ``later`` (a SQL time)."""
    if dialect == "postgresql":  # date_part gives a double (extract a slower numeric)
        epoch = (earlier - dt.datetime(1970, 1, 1)).total_seconds()
        return (func.date_part("epoch", later) - epoch) / 86400.0
    return func.julianday(later) - func.julianday(literal(earlier.isoformat(sep=" ")))


def _when(condition, value):
    return case((condition, value))


def _in_window(column, days):
    return lambda today: column >= window_start(today, days)


def _count(model, *conditions):
    def value(today, dialect):
        return func.count(_when(and_(*[c(today) for c in conditions]), literal(1))
                          if conditions else model.id)
    return value


def _sum(column, *conditions):
    return lambda today, dialect: func.sum(_when(and_(*[c(today) for c in conditions]), column))


def _average_balance(today, dialect):
    """Σ balance of asset accounts − Σ net flow × (time after the window start) / window, over
    the source "asset_flows" joined to every asset account (see the module's docstring)."""
    start = window_start(today, AVERAGE_BALANCE_DAYS)
    weight = _days_after(Transaction.occurred_at, start, dialect) / float(AVERAGE_BALANCE_DAYS)
    signed = case((Transaction.direction == "in", Transaction.amount), else_=-Transaction.amount)
    return func.coalesce(func.sum(cast(signed, Float) * weight), 0)


def _average_balance_correlated(customer_id, today, dialect):
    from models.metrics import total_assets_of

    flows = select(_average_balance(today, dialect)).select_from(
        SOURCES["asset_flows"].from_clause()).where(
        Transaction.customer_id == customer_id, SOURCES["asset_flows"].where(today))
    return cast(total_assets_of(customer_id), Float) - flows.scalar_subquery()


def _average_balance_grouped(today, dialect):
    """Current assets minus drift. The drift is summed per account first (one pass over the
    window's transactions, no join), then the far fewer account rows are joined to their
    product to keep the asset accounts and summed per customer."""
    assets = grouped_pass("accounts", [METRICS["aum"]], today, dialect).subquery()
    start = window_start(today, AVERAGE_BALANCE_DAYS)
    weight = _days_after(Transaction.occurred_at, start, dialect) / float(AVERAGE_BALANCE_DAYS)
    signed = case((Transaction.direction == "in", Transaction.amount), else_=-Transaction.amount)
    per_account = (select(Transaction.account_id.label("account_id"),
                          func.sum(cast(signed, Float) * weight).label("drift"))
                   .where(Transaction.occurred_at >= start)
                   .group_by(Transaction.account_id)).subquery()
    drift = (select(Account.customer_id.label("customer_id"),
                    func.sum(per_account.c.drift).label("drift"))
             .select_from(per_account.join(Account.__table__,
                                           Account.id == per_account.c.account_id)
                          .join(Product.__table__, Product.id == Account.product_id))
             .where(Account.status == "open", Product.category.not_in(LIABILITY_CATEGORIES))
             .group_by(Account.customer_id)).subquery()
    customers = select(Customer.id.label("customer_id")).subquery()
    return (select(customers.c.customer_id,
                   (cast(func.coalesce(assets.c.m_aum, 0), Float)
                    - func.coalesce(drift.c.drift, 0)).label("value"))
            .select_from(customers)
            .outerjoin(assets, assets.c.customer_id == customers.c.customer_id)
            .outerjoin(drift, drift.c.customer_id == customers.c.customer_id)
            .where(assets.c.customer_id.is_not(None) | drift.c.customer_id.is_not(None)))


def _column(column):
    return lambda customer_id, today, dialect: column


def _asset(today):
    return Product.category.not_in(LIABILITY_CATEGORIES)


def _builtin_metrics() -> list[Metric]:
    tx, it = Transaction, Interaction
    return [
        Metric("aum", _l("Total financial assets (AUM)"), "money", "number", empty=Decimal(0),
               source="accounts", value=_sum(Account.balance, _asset)),
        Metric("avg_balance_3m", _l("Average balance, last 3 months"), "money", "number",
               _average_balance_correlated, _average_balance_grouped, 0,
               _l("Approximated from today's asset balances and the last 90 days of "
                  "transactions (no balance history is kept).")),
        Metric("deposit_balance", _l("Demand deposit balance"), "money", "number",
               empty=Decimal(0), source="accounts",
               value=_sum(Account.balance, lambda today: Product.category == "deposit")),
        Metric("products_held", _l("Products held"), "integer", "number", empty=0,
               source="accounts",
               value=lambda today, dialect: func.count(func.distinct(Account.product_id))),
        Metric("credit_cards_held", _l("Credit cards held"), "integer", "number", empty=0,
               source="accounts",
               value=_count(Account, lambda today: Product.category == "credit_card")),
        Metric("tx_count_30d", _l("Transactions, last 30 days"), "integer", "number", empty=0,
               source="transactions", value=_count(tx, _in_window(tx.occurred_at, 30))),
        Metric("tx_count_90d", _l("Transactions, last 90 days"), "integer", "number", empty=0,
               source="transactions", value=_count(tx, _in_window(tx.occurred_at, 90))),
        Metric("tx_amount_30d", _l("Transaction amount, last 30 days"), "money", "number",
               empty=Decimal(0), source="transactions",
               value=_sum(tx.amount, _in_window(tx.occurred_at, 30))),
        Metric("tx_amount_90d", _l("Transaction amount, last 90 days"), "money", "number",
               empty=Decimal(0), source="transactions",
               value=_sum(tx.amount, _in_window(tx.occurred_at, 90))),
        Metric("salary_count_90d", _l("Salary inflows, last 90 days"), "integer", "number",
               empty=0, source="transactions",
               value=_count(tx, _in_window(tx.occurred_at, 90),
                            lambda today: tx.type == "salary")),
        Metric("days_since_transaction", _l("Days since last transaction"), "integer",
               "days_since", source="transactions",
               value=lambda today, dialect: func.max(tx.occurred_at)),
        Metric("inquiries_30d", _l("Product inquiries, last 30 days"), "integer", "number",
               empty=0, source="interactions",
               value=_count(it, _in_window(it.occurred_at, 30),
                            lambda today: it.topic == "inquiry")),
        Metric("complaints_90d", _l("Complaints, last 90 days"), "integer", "number", empty=0,
               source="interactions",
               value=_count(it, _in_window(it.occurred_at, 90),
                            lambda today: it.complaint.is_(True))),
        Metric("satisfaction_avg", _l("Average satisfaction, last 12 months"), "decimal",
               "number", source="interactions",
               value=lambda today, dialect: func.avg(
                   _when(it.occurred_at >= window_start(today, 365), it.satisfaction))),
        Metric("days_since_interaction", _l("Days since last interaction"), "integer",
               "days_since", source="interactions",
               value=lambda today, dialect: func.max(it.occurred_at)),
        Metric("age", _l("Age (years)"), "integer", "years_since",
               _column(Customer.birth_date)),
        Metric("tenure", _l("Tenure (years as a customer)"), "integer", "years_since",
               _column(Customer.onboarded_on)),
    ]


for _metric in _builtin_metrics():
    register_metric(_metric)


def _register_churn_probability() -> None:
    """The churn probability of the latest score, once the churn room's table exists (that
    room may re-register the key with its own definition)."""
    try:
        from models.churn import ChurnScore
    except ImportError:  # no churn room in this build
        return
    SOURCES["churn_scores"] = Source("churn_scores", ChurnScore.customer_id,
                                     lambda: ChurnScore.__table__)
    if "churn_probability" not in METRICS:
        register_metric(Metric(
            "churn_probability", _l("Churn probability"), "decimal", "number",
            source="churn_scores",
            value=lambda today, dialect: func.max(ChurnScore.probability)))


_register_churn_probability()
