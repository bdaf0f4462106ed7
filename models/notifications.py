"""In-app notifications for staff, their digest preference and the digest send ledger.

A notification belongs to its recipient, not to a customer: it is not a ``CustomerRecord``
(the record scope would hide it, or hide every notification without a customer, from the bell's
count). Whether its text may be shown is decided when it is shown, against the record scope of
the reader (``backoffice.notifications.privacy``); ``customer_id`` is a plain column without a
foreign key so that a deleted customer leaves a notification that shows the neutral text.

``message`` is stored through ``backoffice.stored_text.keep`` (message id and parameters), so
each reader reads it in their own language.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)

from models.base import utcnow


class Notification(Model):
    """One notice for one member of staff (a mention, a task, an approval waiting...)."""

    __tablename__ = "notification"
    __table_args__ = (
        # The bell's count on every page: recipient's unread rows, from the index alone.
        Index("ix_notification_unread", "recipient_id", "read_at"),
        Index("ix_notification_recipient", "recipient_id", "id"),
    )
    id = Column(Integer, primary_key=True)
    recipient_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    kind = Column(String(40), nullable=False)
    message = Column(Text)
    link = Column(String(500))
    entity = Column(String(50))
    entity_id = Column(Integer)
    customer_id = Column(Integer)  # no foreign key: see the module docstring
    actor_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    read_at = Column(DateTime)
    emailed_at = Column(DateTime)


class NotificationPreference(Model):
    """A member of staff's digest setting: ``off`` or ``daily`` at ``digest_time`` (display
    zone), written in ``language``. No row means off."""

    __tablename__ = "notification_preference"
    staff_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    digest = Column(String(10), nullable=False, default="off")
    digest_time = Column(Time)
    language = Column(String(10))  # the screen language when saved: the digest's language
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class NotificationDigest(Model):
    """The send ledger of digests: one row per (member of staff, day in the display zone), so
    a re-run or a second worker finds the day's row and sends nothing more. The claim columns
    are those of ``backoffice.messaging.ledger.ClaimedSends``."""

    __tablename__ = "notification_digest"
    __table_args__ = (UniqueConstraint("staff_id", "day", name="uq_notification_digest_day"),
                      Index("ix_notification_digest_status", "status", "next_attempt_at"))
    id = Column(Integer, primary_key=True)
    staff_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    day = Column(Date, nullable=False)
    upto_id = Column(Integer)  # the newest notification the digest covers
    count = Column(Integer, nullable=False, default=0)
    status = Column(String(10), nullable=False, default="pending")
    claim_token = Column(String(32))
    claimed_at = Column(DateTime)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow)
    sent_at = Column(DateTime)
    last_error = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
