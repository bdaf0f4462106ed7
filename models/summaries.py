"""Dashboard figures, precomputed by a job, and the indexes the big lists need.

A dashboard shown to a thousand staff each morning must not scan a million customers and tens of
millions of transactions per page view. ``jobs.summaries`` aggregates once (nightly and on
demand) into ``dashboard_summary``; a dashboard then sums a few hundred of its rows.

One narrow, generic table serves every metric, so a room adds a figure (churn matrix, campaign
funnel, ...) by adding a query to the refresh, not a migration. Rows are cut by the record
scopes' grain: each customer is counted once under its owner (``staff_role='owner'``, also
carrying the branch) and once more under its serving teller when the teller is someone else
(``staff_role='teller'``). So an all-bank or branch figure sums the owner rows; an "own" figure
sums the rows of that staff id under both roles, and nobody is counted twice.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String

from models.audit import AuditLog
from models.base import Money, utcnow
from models.service import FollowUp


class DashboardSummary(Model):
    """One figure: a metric's count (and amount) for one dimension value within one book."""

    __tablename__ = "dashboard_summary"
    __table_args__ = (
        Index("ix_dashboard_summary_metric_branch", "metric", "branch_id"),
        Index("ix_dashboard_summary_metric_staff", "metric", "staff_id"),
    )
    id = Column(Integer, primary_key=True)
    metric = Column(String(40), nullable=False)
    dim = Column(String(60), nullable=False, default="")
    branch_id = Column(Integer)
    staff_id = Column(Integer)
    staff_role = Column(String(8), nullable=False, default="owner")
    count = Column(BigInteger, nullable=False, default=0)
    amount = Column(Money)
    refreshed_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"{self.metric}[{self.dim}] {self.count}"


# Indexes for the list screens at scale (migration 0015_scale_indexes), declared here beside the
# migration that creates them rather than in the models other rooms own. Each serves a filter a
# screen offers together with the list's order, so a page is an ordered index range scan.
SCALE_INDEXES = (
    Index("ix_audit_log_action_id", AuditLog.__table__.c.action, AuditLog.__table__.c.id),
    Index("ix_audit_log_actor_username_id", AuditLog.__table__.c.actor_username,
          AuditLog.__table__.c.id),
    Index("ix_audit_log_actor_id_id", AuditLog.__table__.c.actor_id, AuditLog.__table__.c.id),
    Index("ix_audit_log_customer_id_id", AuditLog.__table__.c.customer_id,
          AuditLog.__table__.c.id),
    Index("ix_follow_up_due_at", FollowUp.__table__.c.due_at),
)
