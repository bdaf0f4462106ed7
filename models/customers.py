"""The customer, the centre of the data model.

Every other customer-data table (accounts, transactions, interactions, follow-ups) hangs off it,
so the record scope of a user is defined once here (owner, serving teller, branch) and reached
from the others through ``customer_id``.
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
)
from sqlalchemy.orm import relationship, validates

from models import crypto, validators
from models.base import JsonDocument, identifier, utcnow
from models.org import Branch, Staff


@crypto.encrypted_model
class Customer(Model):
    """An individual or corporate customer of the bank."""

    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint("gender IN ('M','F')", name="ck_customer_gender"),
        CheckConstraint(
            "risk_tolerance IN ('C1','C2','C3','C4','C5')", name="ck_customer_risk_tolerance"
        ),
        CheckConstraint(
            "customer_type IN ('individual','corporate')", name="ck_customer_type"
        ),
        CheckConstraint(
            "status IN ('active','dormant','closed','deceased')", name="ck_customer_status"
        ),
        Index("ix_customer_owner_status", "owner_id", "status"),
        Index("ix_customer_branch_status", "branch_id", "status"),
        Index("ix_customer_name", "name"),
        Index("ix_customer_record_uid", "record_uid", unique=True),
        # Custom-field filters compile to JSON containment/path tests; GIN serves them on
        # PostgreSQL (on SQLite the index is an ordinary one and costs little).
        Index("ix_customer_custom_fields", "custom_fields", postgresql_using="gin"),
        Index("ix_customer_id_number_bidx", "id_number_bidx"),
        Index("ix_customer_mobile_bidx", "mobile_bidx"),
    )

    id = Column(Integer, primary_key=True)
    customer_no = Column(identifier(20), unique=True, nullable=False)
    name = Column(String(100), nullable=False)
    customer_type = Column(String(12), nullable=False, default="individual")
    gender = Column(String(1))
    birth_date = Column(Date, index=True)
    id_type = Column(String(16), nullable=False, default="PRC_ID")
    # Sensitive fields are stored encrypted (models.crypto): ``<field>_enc`` holds the
    # ciphertext, ``<field>_bidx`` the blind index of the searchable ones, and the hybrid
    # attributes below (``id_number``, ``mobile``, ...) read and write them as plain values.
    # ``record_uid`` is the row identity bound into every ciphertext, set before the insert.
    record_uid = Column(identifier(32), nullable=False, default=crypto.new_record_uid)
    id_number_enc = Column(Text, nullable=False)
    id_number_bidx = Column(identifier(64), nullable=False)
    mobile_enc = Column(Text)
    mobile_bidx = Column(identifier(64))
    email_enc = Column(Text)
    address_enc = Column(Text)
    occupation = Column(String(100))
    risk_tolerance = Column(String(2))
    risk_assessed_on = Column(Date)
    consent_sms = Column(Boolean, nullable=False, default=False)
    consent_email = Column(Boolean, nullable=False, default=False)
    consent_phone = Column(Boolean, nullable=False, default=False)
    consent_wechat = Column(Boolean, nullable=False, default=False)
    flag_elderly = Column(Boolean, nullable=False, default=False)
    flag_disability = Column(Boolean, nullable=False, default=False)
    flag_vip = Column(Boolean, nullable=False, default=False)
    service_notes = Column(Text)
    owner_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    teller_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    branch_id = Column(Integer, ForeignKey("branch.id"), nullable=False)
    onboarded_on = Column(Date, index=True)
    status = Column(String(10), nullable=False, default="active")
    closed_on = Column(Date)
    # Tier (分层): ``tier`` is computed by the tier refresh job; an override, set through review
    # with a reason, wins over it (see ``effective_tier``).
    tier = Column(String(20), index=True)
    tier_override = Column(String(20))
    tier_override_reason = Column(String(255))
    # High-net-worth deep profile (encrypted; who may see it: backoffice.security.deep_profile).
    annual_income_enc = Column(Text)
    family_notes_enc = Column(Text)
    investment_notes_enc = Column(Text)
    custom_fields = Column(JsonDocument, nullable=False, default=dict)
    version = Column(Integer, nullable=False, default=1)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    owner = relationship(Staff, foreign_keys=[owner_id])
    teller = relationship(Staff, foreign_keys=[teller_id])
    branch = relationship(Branch)

    __mapper_args__ = {"version_id_col": version}

    id_number = crypto.encrypted_field("customer", "id_number", kind="id_number",
                                       indexed=True, max_length=64)
    mobile = crypto.encrypted_field("customer", "mobile", kind="mobile", indexed=True,
                                    max_length=32)
    email = crypto.encrypted_field("customer", "email", kind="email", max_length=255)
    address = crypto.encrypted_field("customer", "address", max_length=255)
    annual_income = crypto.encrypted_field("customer", "annual_income", kind="decimal")
    family_notes = crypto.encrypted_field("customer", "family_notes")
    investment_notes = crypto.encrypted_field("customer", "investment_notes")

    @validates("customer_no")
    def _clean_customer_no(self, key, value):
        """Every writer (form, API, review, script) stores the one normal form, so the unique
        index on ``customer_no`` holds for numbers that look alike (full-width ``ＣＯ１`` is
        ``CO1``); a number with an invisible character or a look-alike letter is refused.
        Imports write through Core, not here, and apply the same validator themselves."""
        if value is None:
            return value
        value = validators.normalise_customer_no(value)
        problem = validators.check_customer_no(value)
        if problem is not None:
            raise validators.InvalidValue(key, problem)
        return value

    @validates("name", "occupation", "service_notes")
    def _clean_text(self, key, value):
        """Names and texts shown to staff carry no invisible or control characters (a
        right-to-left override makes a name read backwards); notes may keep line breaks."""
        if isinstance(value, str):
            problem = validators.check_clean_text(value, allow_breaks=key == "service_notes")
            if problem is not None:
                raise validators.InvalidValue(key, problem)
        return value

    @property
    def effective_tier(self) -> str | None:
        """The tier the bank treats the customer as: the reviewed override, else the computed."""
        return self.tier_override or self.tier

    def __repr__(self) -> str:
        return f"{self.customer_no} {self.name}"
