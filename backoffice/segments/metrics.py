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
whatever is registered (but ``hidden`` building blocks).

A grouped pass reads only the rows it needs: a metric declares the ``window`` (days) its value
reads, and when every metric of a pass has one, the pass stops at the widest
(:func:`pass_window`). "Days since the last ..." (``latest``: a max over time) is exact over any
window holding a row; the refresh looks it up for the customers without one. On a transaction
table holding years, a 90-day pass reads a fraction of it.

Financial assets (``aum``) and annual volume are the shared definitions of
``backoffice.fields.value_roles``: the account or transaction part from its grouped pass (the
hidden ``account_assets`` and ``tx_amount_365d``) plus the customer's number fields an admin
marked as assets or volume, read from the customer row the refresh is on. Tiers, the rule
builder and the churn value band therefore value a customer alike.

A customer who never transacted has been idle since their first account opened (or, with no
account, since they became a customer): ``days_since_transaction`` falls back to that day, so
an idle-balance detector flags the 6M demand deposit nobody ever moved.

The 3-month average balance is approximated, as no balance history is kept: today's balances of
asset accounts minus each flow of the last 90 days weighted by the share of the window after it
(a flow on day t changed every daily balance after t): ``avg = B_now − Σ net_i·(t_i − start)/90``.
For the refresh it is *combined* from two staged values, AUM (the accounts pass) and the hidden
``asset_drift_3m`` (the transactions pass, joined to the open asset accounts), so the
transactions are read once for every metric over them.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    DateTime,
    Float,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    type_coerce,
)

from models.banking import Account, Transaction
from models.catalog import Product
from models.churn import ChurnScore
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
    time_column: object = None  # lets a grouped pass read only its metrics' window


SOURCES = {
    "accounts": Source("accounts", Account.customer_id, lambda: Account.__table__.join(
        Product.__table__, Product.id == Account.product_id),
        lambda today: Account.status == "open"),
    "transactions": Source("transactions", Transaction.customer_id,
                           lambda: Transaction.__table__, time_column=Transaction.occurred_at),
    "asset_flows": Source(
        "asset_flows", Transaction.customer_id,
        lambda: Transaction.__table__.join(Account.__table__,
                                           Account.id == Transaction.account_id)
        .join(Product.__table__, Product.id == Account.product_id),
        lambda today: and_(Transaction.occurred_at >= window_start(today, AVERAGE_BALANCE_DAYS),
                           Account.status == "open",
                           Product.category.not_in(LIABILITY_CATEGORIES))),
    "interactions": Source("interactions", Interaction.customer_id,
                           lambda: Interaction.__table__, time_column=Interaction.occurred_at),
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
    # The grouped pass over the source joins this in (``from_clause -> from_clause``).
    extend_from: Callable | None = None
    # Staged from other metrics' grouped values: ``combine({key: value}) -> expression``.
    depends: tuple = ()
    combine: Callable | None = None
    hidden: bool = False  # a building block of other metrics, not offered to rules
    # Days back from today of the rows the value reads (its ``_in_window``), None: all rows.
    window: int | None = None
    # A max over time ("last transaction"): exact over any window that holds a row; the
    # grouped pass may read a window only and look the rest up (see ``pass_window``).
    latest: bool = False
    # Reads the deep profile (balances, assets, money flows): a rule testing it counts, for
    # each viewer, only customers whose deep profile that viewer may see (``segments.guard``).
    deep: bool = False

    def sql_for(self, customer_id, today, dialect):
        """The metric of the customer in ``customer_id``, as one scalar SQL expression."""
        if self.source is None:
            return self.correlated(customer_id, today, dialect)
        source = SOURCES[self.source]
        base = source.from_clause()
        if self.extend_from is not None:
            base = self.extend_from(base)
        query = select(self.value(today, dialect)).select_from(base).where(
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
    if metric.depends and metric.combine is None:
        raise ValueError(f"metric {metric.key!r} depends on others but has no combine")
    if metric.source is not None and metric.source not in SOURCES:
        raise ValueError(f"unknown metric source {metric.source!r}")
    METRICS[metric.key] = metric
    return metric


def pass_window(source_name: str, metrics) -> int | None:
    """The days back a grouped pass may stop at, or None to read every row.

    Every metric of the pass must read a window of its own (or be a ``latest`` max, which the
    refresh then completes with a lookup for customers without a row in the window). The pass
    reads the widest window: on a transaction table holding years, a fraction of the rows.
    """
    source = SOURCES[source_name]
    windows = [m.window for m in metrics if m.window is not None]
    if (source.time_column is None or not windows
            or not all(m.window is not None or m.latest for m in metrics)):
        return None
    return max(windows)


def grouped_pass(source_name: str, metrics, today, dialect):
    """One ``GROUP BY customer_id`` over a source computing several metrics (``m_<key>``),
    over the rows of :func:`pass_window` only."""
    source = SOURCES[source_name]
    base = source.from_clause()
    for extend in dict.fromkeys(m.extend_from for m in metrics if m.extend_from is not None):
        base = extend(base)
    query = select(source.customer_id.label("customer_id"),
                   *[m.value(today, dialect).label("m_" + m.key) for m in metrics]
                   ).select_from(base)
    if source.where is not None:
        query = query.where(source.where(today))
    days = pass_window(source_name, metrics)
    if days is not None:
        query = query.where(source.time_column >= window_start(today, days))
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
    from backoffice.fields.value_roles import financial_assets_sql

    flows = select(_average_balance(today, dialect)).select_from(
        SOURCES["asset_flows"].from_clause()).where(
        Transaction.customer_id == customer_id, SOURCES["asset_flows"].where(today))
    return cast(financial_assets_sql(customer_id, dialect), Float) - flows.scalar_subquery()


def _marked(role):
    """The customer row's fields marked ``role`` (``backoffice.fields.value_roles``)."""
    def value(dialect):
        from backoffice.fields.value_roles import marked_sql

        return marked_sql(role, dialect)
    return value


def _financial_assets_correlated(customer_id, today, dialect):
    from backoffice.fields.value_roles import financial_assets_sql

    return financial_assets_sql(customer_id, dialect)


def _combined_with_marked(part: str, role: str, dialect_of):
    """``values[part]`` (a grouped pass) plus the row's fields marked ``role``."""
    def combine(values):
        return values[part] + _marked(role)(dialect_of())
    return combine


def _annual_volume_correlated(customer_id, today, dialect):
    transactions = METRICS["tx_amount_365d"].sql_for(customer_id, today, dialect)
    return transactions + _marked("volume")(dialect)


def _idle_since(last_transaction, first_opened, dialect):
    """When a customer became idle: their last transaction; never transacted, their first
    open account's opening; no account either, the day they became a customer.

    The days are turned into midnights so that the value is a time whatever its origin: SQLite
    compares times as text, and a bare "2024-05-04" sorts before "2024-05-04 00:00:00.000000".
    """
    day = func.coalesce(first_opened, Customer.onboarded_on)
    if dialect == "postgresql":
        midnight_of_day = cast(day, DateTime)
    else:  # the text form SQLAlchemy stores times in on SQLite
        midnight_of_day = type_coerce(type_coerce(day, String).concat(" 00:00:00.000000"),
                                      DateTime)
    return type_coerce(func.coalesce(last_transaction, midnight_of_day), DateTime)


def _idle_since_correlated(customer_id, today, dialect):
    return _idle_since(METRICS["last_transaction_at"].sql_for(customer_id, today, dialect),
                       METRICS["first_account_opened"].sql_for(customer_id, today, dialect),
                       dialect)


def _idle_since_combined(values):
    return _idle_since(values["last_transaction_at"], values["first_account_opened"],
                       _dialect())


# The open asset accounts (ids), as a derived table joined to the transactions.
_ASSET_ACCOUNTS = (select(Account.id.label("id")).select_from(
    Account.__table__.join(Product.__table__, Product.id == Account.product_id))
    .where(Account.status == "open", Product.category.not_in(LIABILITY_CATEGORIES))
    .subquery("asset_account"))


def _with_asset_accounts(base):
    """Transactions LEFT JOIN the open asset accounts: one hash of the accounts, probed once
    per transaction, instead of a second pass over the transactions for the drift."""
    return base.outerjoin(_ASSET_ACCOUNTS, _ASSET_ACCOUNTS.c.id == Transaction.account_id)


def _asset_drift(today, dialect):
    """Σ net flow × (time after the window start) / window, over the window's transactions on
    open asset accounts: what the 3-month average lags today's assets by."""
    start = window_start(today, AVERAGE_BALANCE_DAYS)
    weight = _days_after(Transaction.occurred_at, start, dialect) / float(AVERAGE_BALANCE_DAYS)
    signed = case((Transaction.direction == "in", Transaction.amount), else_=-Transaction.amount)
    return func.sum(_when(and_(_ASSET_ACCOUNTS.c.id.is_not(None),
                               Transaction.occurred_at >= start),
                          cast(signed, Float) * weight))


def _average_balance_combined(values):
    """Today's assets minus the drift, both staged by the one pass over their source (the
    marked asset fields read from the row: no history of them is kept, so no drift)."""
    assets = values["account_assets"] + _marked("assets")(_dialect())
    return cast(assets, Float) - values["asset_drift_3m"]


def _dialect() -> str:
    """The dialect the combined metrics are compiled for (the app's database)."""
    from flask import has_app_context

    if not has_app_context():
        return "sqlite"
    from backoffice.extensions import db

    return db.session.get_bind().dialect.name


def _column(column):
    return lambda customer_id, today, dialect: column


def _asset(today):
    return Product.category.not_in(LIABILITY_CATEGORIES)


def _builtin_metrics() -> list[Metric]:
    tx, it = Transaction, Interaction
    return [
        Metric("account_assets", "asset account balances", "money", "number",
               empty=Decimal(0), source="accounts", value=_sum(Account.balance, _asset),
               hidden=True, deep=True),
        Metric("aum", _l("Total financial assets (AUM)"), "money", "number",
               _financial_assets_correlated, None, Decimal(0),
               _l("Balances of open asset accounts plus the customer fields marked as "
                  "financial assets."),
               depends=("account_assets",),
               combine=_combined_with_marked("account_assets", "assets", _dialect), deep=True),
        Metric("asset_drift_3m", "asset drift, last 3 months", "money", "number",
               empty=0, source="transactions", value=_asset_drift,
               extend_from=_with_asset_accounts, hidden=True, window=AVERAGE_BALANCE_DAYS,
               deep=True),
        Metric("avg_balance_3m", _l("Average balance, last 3 months"), "money", "number",
               _average_balance_correlated, None, 0,
               _l("Approximated from today's asset balances and the last 90 days of "
                  "transactions (no balance history is kept)."),
               depends=("account_assets", "asset_drift_3m"), combine=_average_balance_combined,
               deep=True),
        Metric("deposit_balance", _l("Demand deposit balance"), "money", "number",
               empty=Decimal(0), source="accounts",
               value=_sum(Account.balance, lambda today: Product.category == "deposit"),
               deep=True),
        Metric("products_held", _l("Products held"), "integer", "number", empty=0,
               source="accounts",
               value=lambda today, dialect: func.count(func.distinct(Account.product_id))),
        Metric("credit_cards_held", _l("Credit cards held"), "integer", "number", empty=0,
               source="accounts",
               value=_count(Account, lambda today: Product.category == "credit_card")),
        Metric("tx_count_30d", _l("Transactions, last 30 days"), "integer", "number", empty=0,
               source="transactions", value=_count(tx, _in_window(tx.occurred_at, 30)),
               window=30),
        Metric("tx_count_90d", _l("Transactions, last 90 days"), "integer", "number", empty=0,
               source="transactions", value=_count(tx, _in_window(tx.occurred_at, 90)),
               window=90),
        Metric("tx_amount_30d", _l("Transaction amount, last 30 days"), "money", "number",
               empty=Decimal(0), source="transactions",
               value=_sum(tx.amount, _in_window(tx.occurred_at, 30)), window=30, deep=True),
        Metric("tx_amount_90d", _l("Transaction amount, last 90 days"), "money", "number",
               empty=Decimal(0), source="transactions",
               value=_sum(tx.amount, _in_window(tx.occurred_at, 90)), window=90, deep=True),
        Metric("tx_amount_365d", "transaction amount, last 12 months", "money", "number",
               empty=Decimal(0), source="transactions",
               value=_sum(tx.amount, _in_window(tx.occurred_at, 365)), window=365, hidden=True,
               deep=True),
        Metric("annual_volume", _l("Annual volume"), "money", "number",
               _annual_volume_correlated, None, Decimal(0),
               _l("Transaction amounts of the last 12 months plus the customer fields marked "
                  "as annual volume."),
               depends=("tx_amount_365d",),
               combine=_combined_with_marked("tx_amount_365d", "volume", _dialect), deep=True),
        Metric("salary_count_90d", _l("Salary inflows, last 90 days"), "integer", "number",
               empty=0, source="transactions",
               value=_count(tx, _in_window(tx.occurred_at, 90),
                            lambda today: tx.type == "salary"), window=90),
        Metric("last_transaction_at", "last transaction", "integer", "days_since",
               source="transactions", latest=True, hidden=True,
               value=lambda today, dialect: func.max(tx.occurred_at)),
        Metric("first_account_opened", "first open account opened", "integer", "days_since",
               source="accounts", hidden=True,
               value=lambda today, dialect: func.min(Account.opened_on)),
        Metric("days_since_transaction", _l("Days since last transaction"), "integer",
               "days_since", _idle_since_correlated,
               help=_l("A customer who never transacted counts from their first account's "
                       "opening (or from becoming a customer)."),
               depends=("last_transaction_at", "first_account_opened"),
               combine=_idle_since_combined),
        Metric("inquiries_30d", _l("Product inquiries, last 30 days"), "integer", "number",
               empty=0, source="interactions",
               value=_count(it, _in_window(it.occurred_at, 30),
                            lambda today: it.topic == "inquiry"), window=30),
        Metric("complaints_90d", _l("Complaints, last 90 days"), "integer", "number", empty=0,
               source="interactions",
               value=_count(it, _in_window(it.occurred_at, 90),
                            lambda today: it.complaint.is_(True)), window=90),
        Metric("satisfaction_avg", _l("Average satisfaction, last 12 months"), "decimal",
               "number", source="interactions",
               value=lambda today, dialect: func.avg(
                   _when(it.occurred_at >= window_start(today, 365), it.satisfaction)),
               window=365),
        Metric("days_since_interaction", _l("Days since last interaction"), "integer",
               "days_since", source="interactions", latest=True,
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
    SOURCES["churn_scores"] = Source("churn_scores", ChurnScore.customer_id,
                                     lambda: ChurnScore.__table__)
    if "churn_probability" not in METRICS:
        register_metric(Metric(
            "churn_probability", _l("Churn probability"), "decimal", "number",
            source="churn_scores",
            value=lambda today, dialect: func.max(ChurnScore.probability)))


_register_churn_probability()
