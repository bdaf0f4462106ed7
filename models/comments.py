"""Comments (评论) staff leave on a record: a customer's 360 page, a follow-up task, a change
request or a campaign, with @mentions of colleagues.

A comment names its record by ``entity`` and ``entity_id`` (one table for every place, so a
new place is a registration in ``backoffice.comments.places``, not a table). ``customer_id``
is set whenever the record is a customer's (the customer itself, a task about them, a change
request about them), so the record scopes restrict comments like every other customer record;
it is empty for records that belong to no customer (campaigns, a change request proposing a
new customer), which the scopes then hide from scoped queries: the comments room reads those
only after it has checked the record itself (``backoffice.comments.places``).

``mentioned_ids`` are staff ids, resolved from the text when the comment is saved, so a later
rename does not change whom a comment mentioned. A deleted comment keeps its row (the thread
says a comment was deleted, and when) but not its text; the operation log keeps what it said.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from models.base import CustomerRecord, JsonDocument, utcnow
from models.org import Staff

BODY_MAX = 2000  # characters of one comment


class Comment(CustomerRecord, Model):
    """One comment on one record, by one member of staff."""

    __tablename__ = "comment"
    __table_args__ = (
        # A record's thread, oldest first: the only way comments are read.
        Index("ix_comment_record", "entity", "entity_id", "id"),
        Index("ix_comment_customer", "customer_id"),
    )
    id = Column(Integer, primary_key=True)
    entity = Column(String(30), nullable=False)
    entity_id = Column(Integer, nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"))
    author_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    body = Column(Text, nullable=False)
    mentioned_ids = Column(JsonDocument, nullable=False, default=list)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    edited_at = Column(DateTime)
    deleted_at = Column(DateTime)

    author = relationship(Staff, foreign_keys=[author_id])

    def __repr__(self) -> str:
        return f"#{self.id} {self.entity}/{self.entity_id}"
