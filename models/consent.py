"""Consent to be contacted, per channel and purpose, with its source and time.

Why rows and not booleans: a withdrawal must be honoured at once and proven later (who said what,
through which source, when). A grant is one row; withdrawing it stamps ``withdrawn_at`` on that
row, and a new grant is a new row, so the history stays. At most one open row (``withdrawn_at``
IS NULL) exists per customer, channel and purpose: the consent service closes the previous one
before it writes the next. ``Customer.consent_<channel>`` booleans are the marketing-purpose
snapshot that older screens and campaign selection read; the same service keeps them in step.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import relationship

from models.base import CustomerRecord, utcnow
from models.customers import Customer

CONSENT_CHANNELS = ("sms", "email", "phone", "wechat")
CONSENT_PURPOSES = ("marketing", "greeting", "service")


class Consent(CustomerRecord, Model):
    """One statement of consent (granted or refused) on a channel for a purpose."""

    __tablename__ = "consent"
    __table_args__ = (
        CheckConstraint("channel IN ('sms','email','phone','wechat')", name="ck_consent_channel"),
        CheckConstraint("purpose IN ('marketing','greeting','service')",
                        name="ck_consent_purpose"),
        # The selection of greetings and notices asks "open grant for (customer, channel,
        # purpose)?" for many customers at once.
        Index("ix_consent_lookup", "customer_id", "channel", "purpose", "withdrawn_at"),
    )

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    channel = Column(String(10), nullable=False)
    purpose = Column(String(12), nullable=False)
    granted = Column(Boolean, nullable=False, default=True)
    source = Column(String(40), nullable=False)  # e.g. counter form, mobile app, call, migration
    recorded_at = Column(DateTime, nullable=False, default=utcnow)
    recorded_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    withdrawn_at = Column(DateTime)

    customer = relationship(Customer)

    def __repr__(self) -> str:
        return f"{self.channel}/{self.purpose}"
