"""Tiers (分层), segments (分类) and need detectors: rules staff edit without code.

All three are one table, ``segment``, told apart by ``kind``: a tier rule names the tier it
assigns and its ``priority`` orders the tier list (first match wins); a segment and a need
detector keep a membership table refreshed by the same job. A need detector also names the
product categories that answer the need (the next-best-offer list on the 360 page).

The rule itself is plain JSON data (see ``backoffice.segments.rules``), compiled to SQL.

Members of a segment (or a need detector) are the customers its rule matched at the last refresh
together with the customers pinned to it (added by an automation rule): members = matched ∪
pinned, one ``segment_membership`` row each. A pinned row says who added it and when, and
whether the rule also matched at the last refresh; the refresh never removes it, only someone
allowed to edit the segment does (on the segment's screen).
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
    true,
)
from sqlalchemy.orm import relationship

from models.base import CustomerRecord, JsonDocument, utcnow
from models.customers import Customer

SEGMENT_KINDS = ("tier", "segment", "need")


class Segment(Model):
    """A tier rule, a segment or a need detector, with its rule as JSON data."""

    __tablename__ = "segment"
    __table_args__ = (
        CheckConstraint("kind IN ('tier','segment','need')", name="ck_segment_kind"),
        Index("ix_segment_kind_priority", "kind", "priority"),
    )
    id = Column(Integer, primary_key=True)
    code = Column(String(40), unique=True, nullable=False)
    name = Column(String(100), nullable=False)
    kind = Column(String(10), nullable=False, default="segment")
    tier = Column(String(20))  # kind "tier": the tier key (models.choices.TIERS) it assigns
    priority = Column(Integer, nullable=False, default=100)  # tiers: lower is tried first
    rule = Column(JsonDocument, nullable=False, default=dict)
    description = Column(Text)
    offer_categories = Column(JsonDocument, nullable=False, default=list)  # needs: products
    active = Column(Boolean, nullable=False, default=True)
    member_count = Column(Integer)  # members at the last refresh: matched ∪ pinned
    pinned_count = Column(Integer)  # of which pinned (whether or not the rule matches them)
    refreshed_at = Column(DateTime)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return self.name or self.code or ""


MEMBERSHIP_SOURCES = ("rule", "added")
PINNED = "added"


class SegmentMembership(CustomerRecord, Model):
    """A customer in a segment (or showing a need) since ``since``.

    ``source`` is ``rule`` for a member only because the rule matched (the refresh deletes the
    row when it stops matching) or ``added`` for a pinned member (kept by the refresh; who
    added it in ``added_by_rule_id``, when in ``added_at``). ``matched`` is whether the rule
    matched the customer at the last refresh: always true for a ``rule`` row, so a row is
    either matched or pinned or both, never neither (``ck_segment_membership_reason``).
    """

    __tablename__ = "segment_membership"
    __table_args__ = (
        Index("ix_segment_membership_customer", "customer_id"),
        # The refresh counts and the screens list the few pinned rows of a segment.
        Index("ix_segment_membership_pinned", "segment_id",
              postgresql_where=text("source = 'added'"), sqlite_where=text("source = 'added'")),
        CheckConstraint("source IN ('rule','added')", name="ck_segment_membership_source"),
        CheckConstraint("matched OR source = 'added'", name="ck_segment_membership_reason"),
    )
    segment_id = Column(Integer, ForeignKey("segment.id", ondelete="CASCADE"), primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"),
                         primary_key=True)
    since = Column(DateTime, nullable=False, default=utcnow)
    source = Column(String(10), nullable=False, default="rule", server_default="rule")
    matched = Column(Boolean, nullable=False, default=True, server_default=true())
    added_by_rule_id = Column(Integer, ForeignKey("automation_rule.id", ondelete="SET NULL"))
    added_at = Column(DateTime)

    @property
    def pinned(self) -> bool:
        return self.source == PINNED

    segment = relationship(Segment)
    customer = relationship(Customer)


class SegmentCount(Model):
    """How many customers a segment (or a tier rule's tier) held on a day: counts over time."""

    __tablename__ = "segment_count"
    segment_id = Column(Integer, ForeignKey("segment.id", ondelete="CASCADE"), primary_key=True)
    day = Column(Date, primary_key=True)
    count = Column(Integer, nullable=False, default=0)  # members: matched ∪ pinned
    pinned = Column(Integer, nullable=False, default=0, server_default="0")  # of which pinned

    segment = relationship(Segment)


class TierChange(CustomerRecord, Model):
    """One upgrade or downgrade of a customer's tier (computed by the refresh, or an override)."""

    __tablename__ = "tier_change"
    __table_args__ = (Index("ix_tier_change_customer_time", "customer_id", "changed_at"),
                      Index("ix_tier_change_time", "changed_at"))
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    old_tier = Column(String(20))
    new_tier = Column(String(20))
    source = Column(String(10), nullable=False, default="refresh")  # refresh | override
    changed_at = Column(DateTime, nullable=False, default=utcnow)

    customer = relationship(Customer)

    @property
    def direction(self) -> str:
        """``up``, ``down`` or ``""`` by the order of ``models.choices.TIERS`` (best first)."""
        from models.choices import TIERS

        order = list(TIERS)
        if self.old_tier not in order or self.new_tier not in order:
            return ""
        return "up" if order.index(self.new_tier) < order.index(self.old_tier) else "down"
