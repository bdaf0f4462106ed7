"""Interactions with customers and the follow-up tasks they create."""
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
    Text,
)
from sqlalchemy.orm import relationship

from models.base import CustomerRecord, JsonDocument, utcnow
from models.customers import Customer
from models.org import Staff


class Interaction(CustomerRecord, Model):
    """One contact with a customer on any channel, with satisfaction and complaint flag."""

    __tablename__ = "interaction"
    __table_args__ = (
        CheckConstraint(
            "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5",
            name="ck_interaction_satisfaction",
        ),
        CheckConstraint(
            "direction IN ('inbound','outbound')", name="ck_interaction_direction"
        ),
        Index("ix_interaction_customer_time", "customer_id", "occurred_at"),
        Index("ix_interaction_staff_time", "staff_id", "occurred_at"),
        Index("ix_interaction_time", "occurred_at"),
        Index("ix_interaction_custom_fields", "custom_fields", postgresql_using="gin"),
    )
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    staff_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    occurred_at = Column(DateTime, nullable=False, default=utcnow)
    channel = Column(String(10), nullable=False)
    direction = Column(String(10), nullable=False, default="outbound")
    topic = Column(String(20), nullable=False)
    summary = Column(Text, nullable=False)
    satisfaction = Column(Integer)
    complaint = Column(Boolean, nullable=False, default=False)
    custom_fields = Column(JsonDocument, nullable=False, default=dict)

    customer = relationship(Customer, backref="interactions")
    staff = relationship(Staff)

    def __repr__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d} {self.channel} {self.topic}"


class FollowUp(CustomerRecord, Model):
    """A task about a customer with an assignee and a due time (for example a callback)."""

    __tablename__ = "follow_up"
    __table_args__ = (
        CheckConstraint("status IN ('open','done','cancelled')", name="ck_follow_up_status"),
        Index("ix_follow_up_assignee_status_due", "assignee_id", "status", "due_at"),
        Index("ix_follow_up_customer_status", "customer_id", "status"),
        Index("ix_follow_up_status_due", "status", "due_at"),
    )
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    assignee_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    interaction_id = Column(Integer, ForeignKey("interaction.id", ondelete="SET NULL"))
    title = Column(String(200), nullable=False)
    # The title as a stored message (``backoffice.stored_text``: message id and parameters) when
    # the system named the task ("Resolve complaint #%(id)s"), so that every reader reads it in
    # their own language; ``title`` then holds the text in the language it was made in (sorting,
    # old readers). None for a title a person typed, and once a person edits the title.
    title_key = Column(Text)
    task_type = Column(String(24), nullable=False, default="callback")
    due_at = Column(DateTime, nullable=False)
    status = Column(String(10), nullable=False, default="open")
    source = Column(String(30), nullable=False, default="manual")
    notes = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    completed_at = Column(DateTime)
    # Service levels (issue 8, backoffice.service.sla): when an overdue inquiry went up to the
    # branch manager, and to whom; set once, so escalation never repeats.
    escalated_at = Column(DateTime)
    escalated_to_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    customer = relationship(Customer, backref="follow_ups")
    assignee = relationship(Staff, foreign_keys=[assignee_id])
    interaction = relationship(Interaction)

    def __repr__(self) -> str:
        return self.title or ""
