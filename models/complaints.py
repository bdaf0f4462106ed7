"""Complaints and their handling: open → assigned → resolved → satisfaction re-check.

Each step's time is its own column, so resolution times and counts are plain SQL aggregates for
the dashboards and the churn signals.
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
    Text,
)
from sqlalchemy.orm import relationship

from models.base import CustomerRecord, utcnow
from models.customers import Customer
from models.org import Staff

COMPLAINT_STATUSES = ("open", "assigned", "resolved", "rechecked")
COMPLAINT_TRANSITIONS = {"open": ("assigned",), "assigned": ("resolved",),
                         "resolved": ("rechecked",), "rechecked": ()}


class Complaint(CustomerRecord, Model):
    """A customer's complaint, who handles it and how satisfied the customer was after."""

    __tablename__ = "complaint"
    __table_args__ = (
        CheckConstraint("status IN ('open','assigned','resolved','rechecked')",
                        name="ck_complaint_status"),
        CheckConstraint("recheck_satisfaction IS NULL OR recheck_satisfaction BETWEEN 1 AND 5",
                        name="ck_complaint_recheck_satisfaction"),
        Index("ix_complaint_customer_opened", "customer_id", "opened_at"),
        Index("ix_complaint_status_opened", "status", "opened_at"),
    )
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    interaction_id = Column(Integer, ForeignKey("interaction.id", ondelete="SET NULL"))
    follow_up_id = Column(Integer, ForeignKey("follow_up.id", ondelete="SET NULL"))
    category = Column(String(30), nullable=False, default="service")
    summary = Column(Text, nullable=False)
    status = Column(String(10), nullable=False, default="open")
    assignee_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    opened_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    resolution = Column(Text)
    recheck_satisfaction = Column(Integer)
    recheck_notes = Column(Text)
    opened_at = Column(DateTime, nullable=False, default=utcnow)
    assigned_at = Column(DateTime)
    resolved_at = Column(DateTime)
    rechecked_at = Column(DateTime)

    customer = relationship(Customer, backref="complaints")
    assignee = relationship(Staff, foreign_keys=[assignee_id])
    opened_by = relationship(Staff, foreign_keys=[opened_by_id])

    def __repr__(self) -> str:
        return f"#{self.id} {self.category}"


class ServiceFlagType(Model):
    """An admin-defined personalised-service flag (beside elderly, disability, corporate, VIP)."""

    __tablename__ = "service_flag_type"
    id = Column(Integer, primary_key=True)
    code = Column(String(30), unique=True, nullable=False)
    label_zh = Column(String(60), nullable=False)
    label_en = Column(String(60))
    active = Column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return self.label_zh or self.code or ""


class CustomerServiceFlag(CustomerRecord, Model):
    """An admin-defined flag set on one customer, with the note that tells staff what to do."""

    __tablename__ = "customer_service_flag"
    __table_args__ = (Index("ix_customer_service_flag_customer", "customer_id", "flag_type_id",
                            unique=True),)
    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    flag_type_id = Column(Integer, ForeignKey("service_flag_type.id", ondelete="CASCADE"),
                          nullable=False)
    note = Column(String(255))
    created_at = Column(DateTime, nullable=False, default=utcnow)

    customer = relationship(Customer, backref="service_flags")
    flag_type = relationship(ServiceFlagType)

    def __repr__(self) -> str:
        return str(self.flag_type or "")


__all__ = ["Complaint", "CustomerServiceFlag", "ServiceFlagType", "Staff"]
