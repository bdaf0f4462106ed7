"""Background job runs, kept in the database so that any web process can show their progress.

RQ keeps its own job state in Redis, but the inline mode has no Redis and a screen on another
machine must read progress too; one table serves both modes.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text

from models.base import JsonDocument, utcnow


class JobRun(Model):
    """One execution of a background job: status, progress and outcome."""

    __tablename__ = "job_run"
    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False, index=True)
    status = Column(String(10), nullable=False, default="queued", index=True)
    rq_job_id = Column(String(64), index=True)
    requested_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    done = Column(Integer, nullable=False, default=0)
    total = Column(Integer)
    message = Column(String(255))
    result = Column(JsonDocument)
    error = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    started_at = Column(DateTime)
    finished_at = Column(DateTime)

    @property
    def percent(self) -> int:
        """Progress as a whole percentage (100 once finished)."""
        if self.status == "finished":
            return 100
        if not self.total:
            return 0
        return min(100, int(100 * self.done / self.total))
