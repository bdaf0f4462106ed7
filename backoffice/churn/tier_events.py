"""Churn warning tiers reached, raised as events (``backoffice.events``) for rules and webhooks.

"Reached" is a move into an elevated tier (P1 or P2, or from P2 to P1): the elevated tiers
before scoring are read first (a small set), compared after the scores are written, and one
event is raised per customer who moved, keyed by the scoring time so a re-run raises nothing
twice.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice import events
from models import Customer
from models.churn import ChurnScore

TIER_REACHED = "churn.tier_reached"
ELEVATED = ("P1", "P2")
events.declare(TIER_REACHED, _l("Churn warning tier reached"), "customer")


def elevated(session) -> dict[int, str] | None:
    """Customer id -> elevated tier now (None when no consumer wants the event)."""
    if not events.wanted(TIER_REACHED):
        return None
    return dict(session.execute(
        select(ChurnScore.customer_id, ChurnScore.warning_tier)
        .where(ChurnScore.warning_tier.in_(ELEVATED)),
        execution_options={"crm_unscoped": True}).all())


def publish_reached(session, before: dict[int, str] | None, as_of) -> int:
    """An event per customer whose elevated tier is new since ``before``."""
    if before is None:
        return 0
    rows = session.execute(
        select(ChurnScore.customer_id, ChurnScore.warning_tier, ChurnScore.probability,
               Customer.branch_id)
        .join(Customer, Customer.id == ChurnScore.customer_id)
        .where(ChurnScore.warning_tier.in_(ELEVATED)),
        execution_options={"crm_unscoped": True}).all()
    return events.publish_rows(session, TIER_REACHED, [
        {"entity": "customer", "entity_id": cid, "customer_id": cid, "branch_id": branch,
         "data": {"tier": tier, "previous": before.get(cid),
                  "probability": None if probability is None else round(float(probability), 4)},
         "occurrence": f"churn:{cid}:{tier}:{as_of.isoformat(timespec='seconds')}"}
        for cid, tier, probability, branch in rows if before.get(cid) != tier
        and not (before.get(cid) == "P1" and tier == "P2")])
