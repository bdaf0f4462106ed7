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
    Text,
)
from sqlalchemy.orm import relationship

from models import crypto
from models.base import CustomerRecord, JsonDocument, Money, identifier, utcnow
from models.catalog import Product
from models.customers import Customer


@crypto.encrypted_model
class Account(CustomerRecord, Model):
    """A customer's holding of a product, with its current balance."""

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="ck_account_balance_not_negative"),
        CheckConstraint("status IN ('open','closed','frozen')", name="ck_account_status"),
        Index("ix_account_customer_status", "customer_id", "status"),
        Index("ix_account_record_uid", "record_uid", unique=True),
        Index("ix_account_account_no_bidx", "account_no_bidx", unique=True),
        Index("ix_account_custom_fields", "custom_fields", postgresql_using="gin"),
    )
    id = Column(Integer, primary_key=True)
    # The account number is stored encrypted with a unique blind index (see models.crypto).
    record_uid = Column(identifier(32), nullable=False, default=crypto.new_record_uid)
    account_no_enc = Column(Text, nullable=False)
    account_no_bidx = Column(identifier(64), nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    product_id = Column(Integer, ForeignKey("product.id"), nullable=False, index=True)
    balance = Column(Money, nullable=False, default=0)
    currency = Column(String(3), nullable=False, default="CNY")
    opened_on = Column(Date, nullable=False)
    closed_on = Column(Date)
    status = Column(String(10), nullable=False, default="open")
    # Admin-defined fields (backoffice.fields), keyed by definition key, stored typed.
    custom_fields = Column(JsonDocument, nullable=False, default=dict)

    customer = relationship(Customer, backref="accounts")
    product = relationship(Product)

    account_no = crypto.encrypted_field("account", "account_no", kind="account_no",
                                        indexed=True, max_length=32)

    def __repr__(self) -> str:
        """Masked (``6222***********3445``): a repr ends up in logs and in FAB's relation
        columns (the transactions list), where a full account number must not appear."""
        try:
            number = self.account_no or ""
        except crypto.CryptoError:  # no key ring here (a log line, a shell): never crash a repr
            return f"account #{self.id}"
        if len(number) <= 8:
            return "*" * len(number)
        return number[:4] + "*" * (len(number) - 8) + number[-4:]


class Transaction(CustomerRecord, Model):
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
