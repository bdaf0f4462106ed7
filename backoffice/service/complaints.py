"""Complaint handling: open → assigned → resolved → satisfaction re-check, times recorded.

Opening a complaint also opens a ``complaint_resolution`` follow-up for the assignee with its
due date from the SLA in Chinese working days. :func:`complaint_stats` gives the counts and
resolution times that dashboards and churn signals read, as one aggregate query.
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from backoffice import events, stored_text
from backoffice.messaging.quiet import zone
from backoffice.service import sla
from models import FollowUp
from models.base import utcnow
from models.complaints import COMPLAINT_TRANSITIONS, Complaint


COMPLAINT_OPENED = "complaint.opened"
events.declare(COMPLAINT_OPENED, _l("Complaint opened"), "complaint")


class ComplaintRefused(ValueError):
    """A step out of order or missing what it needs."""


def open_complaint(session, config, customer, summary: str, *, category="service",
                   opened_by_id=None, interaction_id=None) -> Complaint:
    if not (summary or "").strip():
        raise ComplaintRefused(_("Describe the complaint."))
    complaint = Complaint(customer_id=customer.id, summary=summary.strip(), category=category,
                          status="open", opened_by_id=opened_by_id, opened_at=utcnow(),
                          interaction_id=interaction_id)
    session.add(complaint)
    if events.wanted(COMPLAINT_OPENED):  # rules and webhooks hear of it with the complaint
        session.flush()
        events.publish(session, COMPLAINT_OPENED, entity="complaint", entity_id=complaint.id,
                       customer_id=customer.id, branch_id=customer.branch_id,
                       data={"category": category}, occurrence=f"complaint:{complaint.id}:{complaint.opened_at.isoformat()}")
    return complaint


def _step(complaint: Complaint, new_status: str) -> None:
    if new_status not in COMPLAINT_TRANSITIONS.get(complaint.status, ()):
        raise ComplaintRefused(_("A complaint cannot go from %(old)s to %(new)s.",
                                 old=complaint.status, new=new_status))
    complaint.status = new_status


def assign(session, config, complaint: Complaint, assignee_id: int) -> FollowUp:
    """Assign and open the resolution task, due by the SLA in working days."""
    _step(complaint, "assigned")
    now = utcnow()
    complaint.assignee_id, complaint.assigned_at = assignee_id, now
    title = _l("Resolve complaint #%(id)s", id=complaint.id)
    task = FollowUp(customer_id=complaint.customer_id, assignee_id=assignee_id,
                    title=str(title)[:200], title_key=stored_text.keep(title),
                    task_type="complaint_resolution", source="interaction", status="open",
                    due_at=sla.due_at("complaint_resolution", now, zone(config), config),
                    notes=complaint.summary, interaction_id=complaint.interaction_id)
    session.add(task)
    session.flush()
    complaint.follow_up_id = task.id
    return task


def resolve(session, complaint: Complaint, resolution: str) -> None:
    if not (resolution or "").strip():
        raise ComplaintRefused(_("Say how the complaint was resolved."))
    _step(complaint, "resolved")
    now = utcnow()
    complaint.resolution, complaint.resolved_at = resolution.strip(), now
    if complaint.follow_up_id:
        task = session.get(FollowUp, complaint.follow_up_id)
        if task is not None and task.status == "open":
            task.status, task.completed_at = "done", now


def recheck(session, complaint: Complaint, satisfaction: int, notes: str | None = None) -> None:
    if satisfaction not in (1, 2, 3, 4, 5):
        raise ComplaintRefused(_("Satisfaction is 1 to 5."))
    _step(complaint, "rechecked")
    complaint.recheck_satisfaction, complaint.recheck_notes = satisfaction, notes
    complaint.rechecked_at = utcnow()


def complaint_stats(session, since=None) -> dict:
    """Counts by status, open ones, mean hours to resolve, mean re-check satisfaction."""
    hours = _hours_between(session, Complaint.opened_at, Complaint.resolved_at)
    query = select(
        func.count(Complaint.id),
        func.sum(case((Complaint.status.in_(("open", "assigned")), 1), else_=0)),
        func.avg(hours),
        func.avg(Complaint.recheck_satisfaction),
    )
    if since is not None:
        query = query.where(Complaint.opened_at >= since)
    total, still_open, mean_hours, satisfaction = session.execute(query).one()
    return {"total": total or 0, "open": int(still_open or 0),
            "mean_hours_to_resolve": None if mean_hours is None else round(float(mean_hours), 2),
            "mean_recheck_satisfaction": None if satisfaction is None
            else round(float(satisfaction), 2)}


def _hours_between(session, start, end):
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0
