"""Tier history for overrides: a reviewed override that changes the tier the bank uses is an
upgrade or downgrade like any other, so it lands in ``tier_change`` too.

The override is written by the review service when a checker approves it (or directly by a
checker); a flush hook sees every such write, whichever path made it, without the review room
knowing about tiers.
"""
from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from models import Customer, TierChange
from models.base import utcnow


def _record_overrides(session, flush_context, instances) -> None:
    for item in list(session.dirty):
        if not isinstance(item, Customer):
            continue
        history = inspect(item).attrs.tier_override.history
        if not history.has_changes():
            continue
        old_override = history.deleted[0] if history.deleted else None
        old = old_override or item.tier
        new = item.tier_override or item.tier
        if old != new:
            session.add(TierChange(customer_id=item.id, old_tier=old, new_tier=new,
                                   source="override", changed_at=utcnow()))


def install() -> None:
    if not event.contains(Session, "before_flush", _record_overrides):
        event.listen(Session, "before_flush", _record_overrides)
