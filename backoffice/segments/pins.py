"""Pinning a customer to a segment and removing the pin, with the stored figures kept right.

The refresh stores a segment's figures: ``member_count`` (matched ∪ pinned), ``pinned_count``
and today's ``segment_count`` row. An automation rule pins customers and staff remove pins
between two refreshes, and the screens count live: without this, the stored figures would
disagree with the screens until the next night. Each pin change therefore moves the figures by
exactly what it changed, in the transaction that writes the membership row, with set-based
UPDATEs (``member_count = member_count + 1``: no read-modify-write, so two pins at once both
count). A segment never refreshed has no figures (NULL) and keeps none; past days of
``segment_count`` are history and stay as they were.

What a change moves, members = matched at the last refresh ∪ pinned:

- pinning a customer the rule matched (a ``rule`` row): pinned +1, members unchanged;
- pinning a customer it did not (a new row, ``matched`` false): pinned +1, members +1;
- removing the pin of a matched customer (the row becomes a ``rule`` row): pinned −1;
- removing the pin of a customer not matched (the row goes): pinned −1, members −1.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from models import Segment, SegmentCount, SegmentMembership
from models.segments import PINNED


def pin(session, segment: Segment, customer_id: int, *, rule_id, now: dt.datetime) -> bool:
    """Pin the customer to the segment (``rule_id`` added them, at ``now``); False when they
    are pinned already (nothing changes)."""
    present = session.get(SegmentMembership, (segment.id, customer_id))
    if present is not None and present.source == PINNED:
        return False
    joins = present is None  # not matched at the last refresh, or it would have a row
    if joins:
        present = SegmentMembership(segment_id=segment.id, customer_id=customer_id,
                                    since=now, matched=False)
        session.add(present)
    present.source, present.added_by_rule_id, present.added_at = PINNED, rule_id, now
    session.flush()
    _move_figures(session, segment.id, members=1 if joins else 0, pinned=1, today=now.date())
    return True


def unpin(session, membership: SegmentMembership, *, now: dt.datetime) -> bool:
    """Remove a pin: a customer the rule matched at the last refresh stays as a plain rule
    member (True), any other leaves the segment (False)."""
    kept = bool(membership.matched)
    segment_id = membership.segment_id
    if kept:
        membership.source, membership.added_by_rule_id, membership.added_at = (
            "rule", None, None)
    else:
        session.delete(membership)
    session.flush()
    _move_figures(session, segment_id, members=0 if kept else -1, pinned=-1, today=now.date())
    return kept


def _move_figures(session, segment_id: int, *, members: int, pinned: int,
                  today: dt.date) -> None:
    """Add the change to the segment's stored figures and to today's count, if stored (NULL
    plus anything stays NULL: a figure never computed is not made up here)."""
    segment, counts = Segment.__table__, SegmentCount.__table__
    session.execute(
        update(segment).where(segment.c.id == segment_id)
        .values(member_count=segment.c.member_count + members,
                pinned_count=segment.c.pinned_count + pinned,
                updated_at=segment.c.updated_at))  # the figures moved; the segment was not edited
    session.execute(
        update(counts).where(counts.c.segment_id == segment_id, counts.c.day == today)
        .values(count=counts.c.count + members, pinned=counts.c.pinned + pinned))
    held = session.identity_map.get(session.identity_key(Segment, segment_id))
    if held is not None:  # the loaded segment reads its figures again, not the old ones
        session.expire(held, ["member_count", "pinned_count"])
