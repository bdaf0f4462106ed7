"""Loan applications and where they stand; each status change notifies the customer."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from models.base import CustomerRecord, Money, utcnow
from models.customers import Customer
from models.org import Staff

LOAN_STATUSES = ("submitted", "under_review", "approved", "rejected", "disbursed")
# Which status may follow which: a notice is only sent for a real step forward.
LOAN_TRANSITIONS = {
    "submitted": ("under_review", "rejected"),
    "under_review": ("approved", "rejected"),
    "approved": ("disbursed", "rejected"),
    "rejected": (),
    "disbursed": (),
}


class LoanApplication(CustomerRecord, Model):
    """A customer's application for a loan, from submission to disbursement."""

    __tablename__ = "loan_application"
    __table_args__ = (
        CheckConstraint(
            "status IN ('submitted','under_review','approved','rejected','disbursed')",
            name="ck_loan_application_status"),
        CheckConstraint("amount > 0", name="ck_loan_application_amount"),
        Index("ix_loan_application_customer_status", "customer_id", "status"),
    )
    id = Column(Integer, primary_key=True)
    application_no = Column(String(30), unique=True, nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    product_id = Column(Integer, ForeignKey("product.id", ondelete="SET NULL"))
    amount = Column(Money, nullable=False)
    term_months = Column(Integer)
    purpose = Column(String(200))
    status = Column(String(15), nullable=False, default="submitted")
    officer_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    notes = Column(Text)
    submitted_at = Column(DateTime, nullable=False, default=utcnow)
    status_changed_at = Column(DateTime, nullable=False, default=utcnow)
    decided_at = Column(DateTime)
    disbursed_at = Column(DateTime)

    customer = relationship(Customer, backref="loan_applications")
    officer = relationship(Staff)

    def __repr__(self) -> str:
        return self.application_no or ""
