"""Outbound webhooks: the endpoints an admin registers, and each delivery with its attempts.

The webhook's signing secret is sealed like the customers' sensitive columns (AES-GCM with the
key id inside, bound to this table, field and row; key rotation re-encrypts it). A delivery's
body is sealed too: it carries customer data as the webhook's role sees it, and it is kept so
that a replay sends exactly the same bytes. Neither table has a ``customer_id``: a delivery is
the bank's message to another system, listed to administrators without its body.

Deliveries follow the send-ledger protocol of ``backoffice.messaging.ledger`` (claim token,
lease, attempts, next attempt), so any number of workers can send them.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import relationship

from models import crypto
from models.base import identifier, stamp_when_switched_on, utcnow

DELIVERY_STATUSES = ("pending", "sending", "retry", "delivered", "failed", "cancelled")
SOURCES = ("event", "rule", "replay")
BODY = crypto.register_column("webhook_delivery", "body", column="body_enc",
                              uid_column="record_uid")


@crypto.encrypted_model
class Webhook(Model):
    """An endpoint of another system of the bank, the events it receives and its secret."""

    __tablename__ = "webhook"

    id = Column(Integer, primary_key=True)
    record_uid = Column(identifier(32), unique=True, nullable=False, default=crypto.new_record_uid)
    name = Column(String(100), unique=True, nullable=False)
    url = Column(String(1000), nullable=False)
    events = Column(JSON, nullable=False, default=list)  # event names (codes), never shown raw
    # Whose view of customer data the payload follows; none: no customer data at all.
    role_id = Column(Integer, ForeignKey("ab_role.id", ondelete="SET NULL"))
    secret_enc = Column(Text, nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    active_since = Column(DateTime, default=utcnow)  # last switched on: events from then on
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    secret = crypto.encrypted_field("webhook", "secret")
    role = relationship("Role")

    def __repr__(self) -> str:
        return self.name or f"#{self.id}"


stamp_when_switched_on(Webhook.active, "active_since")


@crypto.encrypted_model
class WebhookDelivery(Model):
    """One message to one webhook: its sealed body and where its sending stands."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint("status IN ('pending','sending','retry','delivered','failed',"
                        "'cancelled')", name="ck_webhook_delivery_status"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_webhook", "webhook_id", "id"),
    )

    id = Column(Integer, primary_key=True)
    record_uid = Column(identifier(32), unique=True, nullable=False, default=crypto.new_record_uid)
    webhook_id = Column(Integer, ForeignKey("webhook.id", ondelete="CASCADE"), nullable=False)
    event_name = Column(String(80), nullable=False)
    event_id = Column(Integer)  # the outbox event (domain_event.id) it carries, if any
    source = Column(String(10), nullable=False, default="event")
    replay_of_id = Column(Integer, ForeignKey("webhook_delivery.id", ondelete="SET NULL"))
    body_enc = Column(Text, nullable=False)
    status = Column(String(10), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime)
    claim_token = Column(String(32))
    claimed_at = Column(DateTime)
    sent_at = Column(DateTime)  # when the receiver answered 2xx
    response_code = Column(SmallInteger)  # of the last attempt that got an answer
    response_excerpt = Column(String(500))  # the first bytes of that answer
    last_error = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    webhook = relationship(Webhook)
    attempt_log = relationship("WebhookAttempt", order_by="WebhookAttempt.number",
                               back_populates="delivery", cascade="all, delete-orphan",
                               passive_deletes=True)

    @property
    def body(self) -> bytes:
        return crypto.decrypt(self.body_enc, BODY.aad(self.record_uid)).encode("utf-8")

    @body.setter
    def body(self, data: bytes) -> None:
        self.body_enc = crypto.encrypt(data.decode("utf-8"), BODY.aad(self.record_uid))


class WebhookAttempt(Model):
    """One POST of a delivery: when, and what came back (a code, or why none did)."""

    __tablename__ = "webhook_attempt"

    id = Column(Integer, primary_key=True)
    delivery_id = Column(Integer, ForeignKey("webhook_delivery.id", ondelete="CASCADE"),
                         nullable=False, index=True)
    number = Column(Integer, nullable=False)
    started_at = Column(DateTime, nullable=False, default=utcnow)
    response_code = Column(SmallInteger)
    error = Column(String(500))

    delivery = relationship(WebhookDelivery, back_populates="attempt_log")
