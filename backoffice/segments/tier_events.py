"""Tier upgrades and downgrades raised as events (``backoffice.events``) for rules and webhooks.

The nightly refresh writes its ``tier_change`` rows set-based; the events are read back from
those rows (one per change, keyed by the row), so a re-run raises nothing twice.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice import events
from models import Customer, TierChange
from models.choices import TIERS

UPGRADED, DOWNGRADED = "tier.upgraded", "tier.downgraded"
events.declare(UPGRADED, _l("Tier upgraded"), "customer")
events.declare(DOWNGRADED, _l("Tier downgraded"), "customer")


def publish_changes(session, changed_at) -> int:
    """Publish the tier changes the refresh wrote at ``changed_at``."""
    if not (events.wanted(UPGRADED) or events.wanted(DOWNGRADED)):
        return 0
    order = list(TIERS)
    rows = session.execute(
        select(TierChange.id, TierChange.customer_id, TierChange.old_tier, TierChange.new_tier,
               Customer.branch_id)
        .join(Customer, Customer.id == TierChange.customer_id)
        .where(TierChange.changed_at == changed_at, TierChange.source == "refresh"),
        execution_options={"crm_unscoped": True}).all()
    by_name: dict[str, list] = {UPGRADED: [], DOWNGRADED: []}
    for change_id, customer_id, old, new, branch_id in rows:
        if old not in order or new not in order:
            name = UPGRADED if old is None else DOWNGRADED
        else:
            name = UPGRADED if order.index(new) < order.index(old) else DOWNGRADED
        by_name[name].append({"entity": "customer", "entity_id": customer_id,
                              "customer_id": customer_id, "branch_id": branch_id,
                              "data": {"old_tier": old, "new_tier": new},
                              "occurrence": f"tier_change:{change_id}:{changed_at.isoformat()}"})
    return sum(events.publish_rows(session, name, items) for name, items in by_name.items())
