"""Automation rules: a trigger, conditions (the segment rule builder's rule) and actions.

A rule's trigger, schedule and actions are plain columns and a JSON list chosen on the rule
form by picking (``backoffice.automation``), never typed names. ``automation_fire`` is the
exactly-once ledger: one row per (rule, record, occurrence) that committed with the actions it
stands for, so a re-run or a retried event finds the record done. A run's log keeps one item per
record it looked at (acted, skipped with a reason, failed with the error); items carry their
customer, so the record scopes show each reader only the items of customers they may see.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)

from models.base import CustomerRecord, stamp_when_switched_on, utcnow

TRIGGER_KINDS = ("record", "schedule", "event")
APPROVAL_STATES = ("none", "pending", "approved", "rejected")


class AutomationRule(Model):
    __tablename__ = "automation_rule"

    id = Column(Integer, primary_key=True)
    name = Column(String(120), nullable=False)
    description = Column(Text)
    enabled = Column(Boolean, nullable=False, default=False)
    enabled_since = Column(DateTime)  # last switched on: it acts on events from then on
    trigger_kind = Column(String(10), nullable=False, default="record")
    trigger_entity = Column(String(30))  # record triggers: customer, account, ...
    trigger_on = Column(String(10))  # created | changed
    trigger_field = Column(String(80))
    trigger_from = Column(String(200))
    trigger_to = Column(String(200))
    trigger_event = Column(String(80), index=True)  # event triggers: a declared event name
    schedule_kind = Column(String(10))  # daily | workdays | monthly
    schedule_time = Column(String(5))  # HH:MM in the display zone
    schedule_day = Column(Integer)  # day of month for monthly
    conditions = Column(JSON)  # a segment rule-builder rule; empty: every record
    actions = Column(JSON, nullable=False, default=list)
    branch_id = Column(Integer, ForeignKey("branch.id", ondelete="CASCADE"), index=True)
    max_per_run = Column(Integer)
    max_per_hour = Column(Integer)
    approval = Column(String(10), nullable=False, default="none")
    approval_requested_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    approved_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    approved_at = Column(DateTime)
    builtin_code = Column(String(40), unique=True)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    updated_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    last_run_at = Column(DateTime)
    last_schedule_key = Column(String(40))  # the last schedule slot a run was started for

    def __repr__(self) -> str:
        return self.name or f"#{self.id}"


stamp_when_switched_on(AutomationRule.enabled, "enabled_since")


class AutomationRun(Model):
    """One pass of a rule: a schedule slot, an event occurrence, a manual run or a dry run."""

    __tablename__ = "automation_run"
    __table_args__ = (Index("ix_automation_run_rule_started", "rule_id", "started_at"),)

    id = Column(Integer, primary_key=True)
    rule_id = Column(Integer, ForeignKey("automation_rule.id", ondelete="CASCADE"), nullable=False)
    trigger = Column(String(10), nullable=False)  # schedule | event | manual | dry_run
    occurrence = Column(String(200))
    status = Column(String(10), nullable=False, default="running")
    matched = Column(Integer, nullable=False, default=0)
    acted = Column(Integer, nullable=False, default=0)
    skipped = Column(Integer, nullable=False, default=0)
    failed = Column(Integer, nullable=False, default=0)
    started_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    job_run_id = Column(Integer)
    started_at = Column(DateTime, nullable=False, default=utcnow)
    finished_at = Column(DateTime)
    error = Column(Text)


class AutomationRunItem(CustomerRecord, Model):
    """What a run did with one record: acted, skipped (with the reason) or failed (the error)."""

    __tablename__ = "automation_run_item"

    id = Column(Integer, primary_key=True)
    run_id = Column(Integer, ForeignKey("automation_run.id", ondelete="CASCADE"), nullable=False,
                    index=True)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    entity = Column(String(30), nullable=False)
    entity_id = Column(Integer)
    outcome = Column(String(10), nullable=False)  # matched (dry run) | acted | skipped | failed
    reason = Column(Text)  # a stored message (backoffice.stored_text) or an error
    created_at = Column(DateTime, nullable=False, default=utcnow)


class AutomationFire(CustomerRecord, Model):
    """The exactly-once ledger: a rule acted on a record for one occurrence of its trigger."""

    __tablename__ = "automation_fire"
    __table_args__ = (
        UniqueConstraint("rule_id", "entity", "entity_id", "occurrence",
                         name="uq_automation_fire"),
        Index("ix_automation_fire_rule_fired", "rule_id", "fired_at"),
    )

    id = Column(Integer, primary_key=True)
    rule_id = Column(Integer, ForeignKey("automation_rule.id", ondelete="CASCADE"), nullable=False)
    entity = Column(String(30), nullable=False)
    entity_id = Column(Integer, nullable=False)
    occurrence = Column(String(200), nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    actions = Column(Integer, nullable=False, default=0)
    fired_at = Column(DateTime, nullable=False, default=utcnow)


class AutomationMessage(CustomerRecord, Model):
    """The send ledger of a rule's message to a customer (``backoffice.messaging.ledger``):
    written ``pending`` with the rule's other actions, sent later by the send job, once."""

    __tablename__ = "automation_message"
    __table_args__ = (
        UniqueConstraint("rule_id", "customer_id", "occurrence", name="uq_automation_message"),
        Index("ix_automation_message_work", "status", "next_attempt_at"),
    )

    id = Column(Integer, primary_key=True)
    rule_id = Column(Integer, ForeignKey("automation_rule.id", ondelete="CASCADE"), nullable=False)
    customer_id = Column(Integer, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False)
    occurrence = Column(String(200), nullable=False)
    channel = Column(String(10), nullable=False)
    purpose = Column(String(12), nullable=False, default="service")
    status = Column(String(10), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow)
    claim_token = Column(String(32))
    claimed_at = Column(DateTime)
    subject = Column(String(200))
    body = Column(Text)
    last_error = Column(Text)
    interaction_id = Column(Integer, ForeignKey("interaction.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    sent_at = Column(DateTime)
