"""Set-based refresh of tier membership (segments join here with the segments issue).

One UPDATE over all customers, computed in the database: no customer is loaded into Python, so
the refresh costs the same few statements at a thousand customers or a million.
"""
from __future__ import annotations

from decimal import Decimal

from flask import current_app
from sqlalchemy import case, func, select, update

from backoffice.extensions import db
from models import Customer
from models.metrics import total_assets_of

# Lower bound of total financial assets (CNY) per tier, highest first; below all of them: mass.
DEFAULT_TIER_THRESHOLDS = (
    ("private_banking", Decimal("6000000")),
    ("wealth", Decimal("500000")),
    ("vip", Decimal("50000")),
)


def tier_thresholds() -> tuple:
    """Thresholds from ``CRM_TIER_THRESHOLDS`` (JSON list of [tier, amount]) or the defaults."""
    configured = current_app.config.get("CRM_TIER_THRESHOLDS")
    if not configured:
        return DEFAULT_TIER_THRESHOLDS
    return tuple((tier, Decimal(str(amount))) for tier, amount in configured)


def tier_expression(assets):
    """The SQL CASE choosing a tier from an assets expression, first match wins."""
    return case(*[(assets >= amount, tier) for tier, amount in tier_thresholds()], else_="mass")


def refresh_tiers(*, progress) -> dict:
    """Recompute every customer's tier from their current assets; report counts per tier."""
    total = db.session.scalar(select(func.count(Customer.id)))
    progress.update(0, total=total, message="refreshing tiers")
    db.session.execute(
        update(Customer).values(tier=tier_expression(total_assets_of(Customer.id))),
        execution_options={"synchronize_session": False},
    )
    counts = dict(db.session.execute(
        select(Customer.tier, func.count()).group_by(Customer.tier)).all())
    progress.update(total, total=total, message="tiers refreshed")
    return {"customers": total, "by_tier": counts}
