"""Accounts (holdings of a product) and their transactions.

``Transaction.customer_id`` repeats the account's customer on purpose: the record scope and the
customer's timeline filter on it without a join over tens of millions of rows.
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
    String,
)
from sqlalchemy.orm import relationship

from models.base import Money, utcnow
from models.catalog import Product
from models.customers import Customer


class Account(Model):
    """A customer's holding of a product, with its current balance."""

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="ck_account_balance_not_negative"),
        CheckConstraint("status IN ('open','closed','frozen')", name="ck_account_status"),
        Index("ix_account_customer_status", "customer_id", "status"),
    )
    id = Column(Integer, primary_key=True)
    account_no = Column(String(32), unique=True, nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    product_id = Column(Integer, ForeignKey("product.id"), nullable=False, index=True)
    balance = Column(Money, nullable=False, default=0)
    currency = Column(String(3), nullable=False, default="CNY")
    opened_on = Column(Date, nullable=False)
    closed_on = Column(Date)
    status = Column(String(10), nullable=False, default="open")

    customer = relationship(Customer, backref="accounts")
    product = relationship(Product)

    def __repr__(self) -> str:
        return self.account_no or ""


class Transaction(Model):
    """A movement of money on an account; read-only in the back office."""

    __tablename__ = "transaction"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_transaction_amount_positive"),
        CheckConstraint("direction IN ('in','out')", name="ck_transaction_direction"),
        Index("ix_transaction_customer_time", "customer_id", "occurred_at"),
        Index("ix_transaction_account_time", "account_id", "occurred_at"),
        Index("ix_transaction_time", "occurred_at"),  # the all-transactions list, newest first
    )
    id = Column(Integer, primary_key=True)
    account_id = Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    occurred_at = Column(DateTime, nullable=False, default=utcnow)
    amount = Column(Money, nullable=False)
    direction = Column(String(3), nullable=False)
    channel = Column(String(10), nullable=False)
    type = Column(String(20), nullable=False)
    counterparty = Column(String(100))
    description = Column(String(255))

    account = relationship(Account)
    customer = relationship(Customer)

    def __repr__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d} {self.direction} {self.amount}"
