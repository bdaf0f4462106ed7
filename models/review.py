"""Change requests (信息录入审核): a maker's proposed change, held until a checker decides.

The live record is not touched while a request is pending; the proposed values live here, in
``payload``, encrypted like the customer's own sensitive columns (they include ID numbers and
mobiles) with ``models.crypto``: AES-GCM, the key id inside, the associated data bound to this
table, column and the request's ``record_uid``, so a payload copied onto another request does
not open; key rotation re-encrypts it with the customers' columns (``register_column``).
``fields`` names the proposed fields in the clear (names are not personal data), so lists can
say what a request touches without decrypting.

``base_version`` is the customer's ``version`` when the request was made: approval refuses when
the live record has moved on (a stale request). The request has a version of its own, so two
checkers deciding the same request at once cannot both succeed.
"""
from __future__ import annotations

import json

from flask_appbuilder import Model
from sqlalchemy import (
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

from models import crypto
from models.base import CustomerRecord, JsonDocument, identifier, utcnow
from models.customers import Customer
from models.org import Branch, Staff

KINDS = ("create", "update")
STATUSES = ("pending", "approved", "rejected", "withdrawn")
PAYLOAD = crypto.register_column("change_request", "payload", column="payload",
                                 uid_column="record_uid")


@crypto.encrypted_model
class ChangeRequest(CustomerRecord, Model):
    """A proposed creation of, or change to, a customer, awaiting a second person's approval."""

    __tablename__ = "change_request"
    __table_args__ = (
        CheckConstraint("kind IN ('create','update')", name="ck_change_request_kind"),
        CheckConstraint("status IN ('pending','approved','rejected','withdrawn')",
                        name="ck_change_request_status"),
        Index("ix_change_request_status_branch", "status", "branch_id"),
    )

    id = Column(Integer, primary_key=True)
    record_uid = Column(identifier(32), unique=True, nullable=False, default=crypto.new_record_uid)
    entity = Column(String(30), nullable=False, default="customer")
    kind = Column(String(10), nullable=False)
    status = Column(String(10), nullable=False, default="pending")
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    # The customer's branch when proposed (the proposed branch for a new customer): whose
    # branch manager reviews it.
    branch_id = Column(Integer, ForeignKey("branch.id"), nullable=False)
    base_version = Column(Integer)
    fields = Column(JsonDocument, nullable=False, default=list)
    payload = Column(Text, nullable=False)
    maker_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False, index=True)
    checker_id = Column(Integer, ForeignKey("ab_user.id"))
    reason = Column(String(500))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    decided_at = Column(DateTime)
    version = Column(Integer, nullable=False, default=1)

    customer = relationship(Customer)
    branch = relationship(Branch)
    maker = relationship(Staff, foreign_keys=[maker_id])
    checker = relationship(Staff, foreign_keys=[checker_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def values(self) -> dict:
        """The proposed values, ``{field: JSON value}`` (decrypted)."""
        if not self.payload:
            return {}
        return json.loads(crypto.decrypt(self.payload, PAYLOAD.aad(self.record_uid)))

    @values.setter
    def values(self, values: dict) -> None:
        self.fields = sorted(values)
        plaintext = json.dumps(values, ensure_ascii=False, sort_keys=True)
        self.payload = crypto.encrypt(plaintext, PAYLOAD.aad(self.record_uid))

    def __repr__(self) -> str:
        return f"#{self.id} {self.kind} {self.status}"

