"""Net outflow as a share of assets: the rule builder metric for "outflow passes 30 %".

Registered in the segments room's metric registry (``backoffice.segments.metrics``), so rules,
segments and campaigns can all use it. Over the last 30 days, on open asset accounts (not
loans or cards): (outflows - inflows) / (today's assets + that net outflow) x 100, the share
of what the customer held 30 days ago that has left; 0 when nothing was held. It reads the deep
profile (balances and money flows), so counts follow the deep-profile rule of
``segments.guard``.
"""
from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from models import Account, Product, Transaction

WINDOW_DAYS = 30
KEY = "net_outflow_pct_30d"


def _net_outflow_pct(customer_id, today, dialect):
    from backoffice.segments.metrics import LIABILITY_CATEGORIES, window_start

    asset = Product.category.not_in(LIABILITY_CATEGORIES)
    flows = (select(func.coalesce(func.sum(case(
        (Transaction.direction == "out", Transaction.amount), else_=-Transaction.amount)), 0))
        .select_from(Transaction.__table__.join(Account.__table__,
                                                Account.id == Transaction.account_id)
                     .join(Product.__table__, Product.id == Account.product_id))
        .where(Transaction.customer_id == customer_id, Account.status == "open", asset,
               Transaction.occurred_at >= window_start(today, WINDOW_DAYS))
        .scalar_subquery())
    held = (select(func.coalesce(func.sum(Account.balance), 0))
            .select_from(Account.__table__.join(Product.__table__,
                                                Product.id == Account.product_id))
            .where(Account.customer_id == customer_id, Account.status == "open", asset)
            .scalar_subquery())
    before = held + flows
    return case((before > 0, flows * 100 / before), else_=Decimal(0))


def register() -> None:
    from backoffice.segments.metrics import METRICS, Metric, register_metric

    if KEY not in METRICS:
        register_metric(Metric(
            KEY, _l("Net outflow, last 30 days (percent of assets)"), "decimal", "number",
            _net_outflow_pct, None, Decimal(0),
            _l("Outflows minus inflows on asset accounts over the last 30 days, as a share "
               "of what the customer held 30 days ago."), deep=True))
