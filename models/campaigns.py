"""Campaigns (营销活动) and their targets: who was offered what, who answered, who bought.

A campaign moves draft → submitted → approved (by a senior manager) → running → closed; a
rejected submission goes back to draft with the reviewer's note. Launching it writes one
``CampaignTarget`` per customer who passed the suitability gate, in the ``target`` group or
held out in the ``control`` group; responses and conversions are recorded on those rows for
both groups, which is what makes the uplift over the control group measurable.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from models.base import CustomerRecord, JsonDocument, Money, utcnow
from models.catalog import Product
from models.customers import Customer
from models.org import Branch, Staff

CAMPAIGN_STATUSES = ("draft", "submitted", "approved", "running", "closed")
TARGET_GROUPS = ("target", "control")
# Channels a campaign may use, each with the customer's marketing-consent column it needs.
CONSENT_COLUMNS = {"phone": "consent_phone", "sms": "consent_sms", "email": "consent_email",
                   "wechat": "consent_wechat"}


class Campaign(Model):
    """A marketing campaign: whom (segments, tiers, filters), what (product, offer), how."""

    __tablename__ = "campaign"
    __table_args__ = (
        CheckConstraint("status IN ('draft','submitted','approved','running','closed')",
                        name="ck_campaign_status"),
        CheckConstraint("control_share >= 0 AND control_share < 1",
                        name="ck_campaign_control_share"),
        Index("ix_campaign_status", "status"),
        Index("ix_campaign_custom_fields", "custom_fields", postgresql_using="gin"),
    )
    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    status = Column(String(12), nullable=False, default="draft")
    product_id = Column(Integer, ForeignKey("product.id"))
    target_segment_ids = Column(JsonDocument, nullable=False, default=list)
    target_tiers = Column(JsonDocument, nullable=False, default=list)
    target_rule = Column(JsonDocument, nullable=False, default=dict)  # extra filters (a rule)
    channels = Column(JsonDocument, nullable=False, default=list)
    start_on = Column(Date)
    end_on = Column(Date)
    message_template = Column(Text)
    offer = Column(String(255))
    control_share = Column(Numeric(5, 4), nullable=False, default=0.1)
    control_seed = Column(Integer, nullable=False, default=0)
    gate_report = Column(JsonDocument)  # counts at launch: candidates, dropped by reason, groups
    review_note = Column(String(500))
    custom_fields = Column(JsonDocument, nullable=False, default=dict)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    approved_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    submitted_at = Column(DateTime)
    approved_at = Column(DateTime)
    launched_at = Column(DateTime)
    closed_at = Column(DateTime)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    product = relationship(Product)
    created_by = relationship(Staff, foreign_keys=[created_by_id])
    approved_by = relationship(Staff, foreign_keys=[approved_by_id])

    def __repr__(self) -> str:
        return self.name or ""


class CampaignTarget(CustomerRecord, Model):
    """A customer selected by a launched campaign, in the target or the control group."""

    __tablename__ = "campaign_target"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", name="uq_campaign_target_customer"),
        CheckConstraint("target_group IN ('target','control')", name="ck_campaign_target_group"),
        Index("ix_campaign_target_customer", "customer_id"),
        Index("ix_campaign_target_assignee", "assignee_id"),
    )
    id = Column(Integer, primary_key=True)
    campaign_id = Column(Integer, ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    target_group = Column(String(8), nullable=False, default="target")
    channel = Column(String(10))
    # Who served the customer and where, frozen at launch (evaluation by branch and RM).
    assignee_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    branch_id = Column(Integer, ForeignKey("branch.id", ondelete="SET NULL"))
    follow_up_id = Column(Integer, ForeignKey("follow_up.id", ondelete="SET NULL"))
    contacted_at = Column(DateTime)
    responded_at = Column(DateTime)
    converted_at = Column(DateTime)
    converted_amount = Column(Money)
    outcome_source = Column(String(12))  # staff | import | transaction
    created_at = Column(DateTime, nullable=False, default=utcnow)

    campaign = relationship(Campaign)
    customer = relationship(Customer)
    assignee = relationship(Staff, foreign_keys=[assignee_id])
    branch = relationship(Branch)

    def __repr__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id}"


MESSAGE_CHANNELS = ("sms", "email", "wechat")  # sent by the app; phone targets get a task
MESSAGE_STATUSES = ("pending", "sending", "sent", "retry", "failed", "cancelled")


class CampaignMessage(CustomerRecord, Model):
    """The send ledger of one target's campaign message: written (``pending``) at launch,
    before anything is sent, one row per target (UNIQUE), so a re-run, a duplicate job or a
    retry after a killed worker finds the row and never sends twice. ``sent`` is committed
    just before the message's last byte leaves (``backoffice.messaging.delivery``)."""

    __tablename__ = "campaign_message"
    __table_args__ = (
        UniqueConstraint("target_id", name="uq_campaign_message_target"),
        CheckConstraint(
            "status IN ('pending','sending','sent','retry','failed','cancelled')",
            name="ck_campaign_message_status"),
        Index("ix_campaign_message_work", "campaign_id", "status", "next_attempt_at"),
    )
    id = Column(Integer, primary_key=True)
    campaign_id = Column(Integer, ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False)
    target_id = Column(Integer, ForeignKey("campaign_target.id", ondelete="CASCADE"),
                       nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    channel = Column(String(10), nullable=False)
    status = Column(String(10), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow)
    claim_token = Column(String(32))  # who is sending it now (a lost claim aborts the send)
    claimed_at = Column(DateTime)
    subject = Column(String(200))
    body = Column(Text)
    last_error = Column(Text)
    interaction_id = Column(Integer, ForeignKey("interaction.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    sent_at = Column(DateTime)

    campaign = relationship(Campaign)
    target = relationship(CampaignTarget)
    customer = relationship(Customer)

    def __repr__(self) -> str:
        return f"{self.channel} {self.status}"
