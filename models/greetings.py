"""Occasions, greeting templates, offers, and the dispatch log that makes sending exactly-once.

``GreetingDispatch`` is the heart: its row is written (status ``pending``) before anything is
sent, under a UNIQUE key (customer, occasion, occasion date, channel). A second selection of the
same day, a duplicate job or a retry after a killed worker finds the row and does not send
again; the send itself commits ``sent`` immediately before the message's final byte leaves
(see ``backoffice.messaging.delivery``), so a row still ``sending`` was provably not delivered.
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
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from models.base import CustomerRecord, utcnow
from models.customers import Customer

OCCASION_KINDS = ("birthday", "anniversary", "custom_date", "lunar_festival")
GREETING_CHANNELS = ("email", "sms", "phone")
DISPATCH_STATUSES = ("pending", "sending", "sent", "deferred", "retry", "failed", "cancelled")


class Occasion(Model):
    """A recurring day to greet customers on, with lead time and channel order."""

    __tablename__ = "greeting_occasion"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('birthday','anniversary','custom_date','lunar_festival')",
            name="ck_greeting_occasion_kind"),
        CheckConstraint("lead_days BETWEEN 0 AND 60", name="ck_greeting_occasion_lead"),
    )
    id = Column(Integer, primary_key=True)
    code = Column(String(40), unique=True, nullable=False)
    name = Column(String(100), nullable=False)
    kind = Column(String(20), nullable=False)
    field_key = Column(String(64))  # custom_date: the customer custom field (a date) to read
    lunar_month = Column(Integer)  # lunar_festival: e.g. 1/1 Spring Festival, 8/15 Mid-Autumn
    lunar_day = Column(Integer)
    lead_days = Column(Integer, nullable=False, default=0)
    channel_order = Column(String(60), nullable=False, default="email,sms")
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    @property
    def channels(self) -> list[str]:
        return [c.strip() for c in (self.channel_order or "").split(",") if c.strip()]

    def __repr__(self) -> str:
        return self.name or self.code or ""


class GreetingTemplate(Model):
    """The text of a greeting for one occasion, tier (blank: any) and language."""

    __tablename__ = "greeting_template"
    __table_args__ = (
        UniqueConstraint("occasion_id", "tier", "language", "channel",
                         name="uq_greeting_template_key"),
    )
    id = Column(Integer, primary_key=True)
    occasion_id = Column(Integer, ForeignKey("greeting_occasion.id", ondelete="CASCADE"),
                         nullable=False)
    tier = Column(String(20))  # NULL: every tier without a template of its own
    language = Column(String(5), nullable=False, default="zh")
    channel = Column(String(10))  # NULL: every channel
    subject = Column(String(200))
    body = Column(Text, nullable=False)

    occasion = relationship(Occasion, backref="templates")

    def __repr__(self) -> str:
        return f"{self.occasion} {self.tier or '*'} {self.language}"


class Offer(Model):
    """An offer attached to greetings for a tier (an exclusive rate, a voucher), while valid."""

    __tablename__ = "greeting_offer"
    __table_args__ = (
        CheckConstraint("valid_from <= valid_until", name="ck_greeting_offer_validity"),
        Index("ix_greeting_offer_tier_valid", "tier", "valid_from", "valid_until"),
    )
    id = Column(Integer, primary_key=True)
    occasion_id = Column(Integer, ForeignKey("greeting_occasion.id", ondelete="CASCADE"))
    tier = Column(String(20), nullable=False)
    title = Column(String(200), nullable=False)
    code_prefix = Column(String(20), nullable=False)
    valid_from = Column(Date, nullable=False)
    valid_until = Column(Date, nullable=False)

    occasion = relationship(Occasion)

    def __repr__(self) -> str:
        return self.title or ""


class GreetingDispatch(CustomerRecord, Model):
    """One greeting to one customer on one channel for one occasion date: the send ledger."""

    __tablename__ = "greeting_dispatch"
    __table_args__ = (
        UniqueConstraint("customer_id", "occasion_id", "occasion_date", "channel",
                         name="uq_greeting_dispatch_key"),
        CheckConstraint(
            "status IN ('pending','sending','sent','deferred','retry','failed','cancelled')",
            name="ck_greeting_dispatch_status"),
        Index("ix_greeting_dispatch_work", "status", "next_attempt_at"),
        Index("ix_greeting_dispatch_customer_occasion", "customer_id", "occasion_id",
              "occasion_date"),
    )
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    occasion_id = Column(Integer, ForeignKey("greeting_occasion.id", ondelete="CASCADE"),
                         nullable=False)
    occasion_date = Column(Date, nullable=False)
    channel = Column(String(10), nullable=False)
    status = Column(String(10), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow)
    claim_token = Column(String(32))  # who is sending it now (a lost claim aborts the send)
    claimed_at = Column(DateTime)
    offer_id = Column(Integer, ForeignKey("greeting_offer.id", ondelete="SET NULL"))
    offer_code = Column(String(40))
    subject = Column(String(200))
    body = Column(Text)
    last_error = Column(Text)
    interaction_id = Column(Integer, ForeignKey("interaction.id", ondelete="SET NULL"))
    follow_up_id = Column(Integer, ForeignKey("follow_up.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    sent_at = Column(DateTime)

    customer = relationship(Customer)
    occasion = relationship(Occasion)
    offer = relationship(Offer)

    def __repr__(self) -> str:
        return f"{self.occasion_date} {self.channel} {self.status}"
