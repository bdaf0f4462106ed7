"""The event outbox: what features raised (``domain_event``) and which consumer handled what.

An event row commits with the change that raised it, or not at all, so a consumer never acts on
a change that rolled back. ``(name, occurrence)`` is unique: raising the same occurrence again
(a re-run job, a retried request) stores nothing new. A consumer's ``domain_event_handled`` row
commits in the same transaction as what its handler did, so a handler runs to completion once per
consumer and event, whatever crashed in between (``backoffice.events.dispatch``).
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (JSON, Column, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)

from models.base import CustomerRecord, utcnow


class DomainEvent(CustomerRecord, Model):
    """One occurrence of something a feature raised (a tier reached, a record changed)."""

    __tablename__ = "domain_event"
    __table_args__ = (
        UniqueConstraint("name", "occurrence", name="uq_domain_event_occurrence"),
        Index("ix_domain_event_name_id", "name", "id"),
    )

    id = Column(Integer, primary_key=True)
    name = Column(String(80), nullable=False)
    entity = Column(String(40), nullable=False)
    entity_id = Column(Integer)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    branch_id = Column(Integer, ForeignKey("branch.id", ondelete="SET NULL"))
    data = Column(JSON, nullable=False, default=dict)
    occurrence = Column(String(200), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class DomainEventHandled(Model):
    """A consumer's claim on an event: handled (``handled_at`` set) or failed so far."""

    __tablename__ = "domain_event_handled"
    __table_args__ = (
        UniqueConstraint("consumer", "event_id", name="uq_domain_event_handled"),
    )

    id = Column(Integer, primary_key=True)
    consumer = Column(String(80), nullable=False)
    event_id = Column(Integer, ForeignKey("domain_event.id", ondelete="CASCADE"), nullable=False,
                      index=True)
    handled_at = Column(DateTime)
    attempts = Column(Integer, nullable=False, default=0)
    error = Column(Text)
