"""The notifications this room raises itself: tasks assigned, approvals waiting, imports finished.

Each source is one call from the place where the event happens, so the notice commits with the
change. Tasks are the exception: a follow-up task is created or reassigned by many paths
(screens, the REST API, complaints, loans, greetings, escalations), so a session hook sees
every task written through the ORM (:func:`install`), and the set-based churn insert passes its
new ids to :func:`tasks_inserted`.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import event, inspect, select

from backoffice import stored_text
from backoffice.notifications import kinds
from backoffice.notifications.service import notify
from backoffice.security.current import current_user
from backoffice.security.holders import holders_of
from backoffice.security.scopes import scope_for_user
from models import Customer, FollowUp, Staff
from models.notifications import Notification

IN_CHUNKS = 1000


# --- tasks assigned ---------------------------------------------------------------------------


def task_link(task_id) -> str:
    return f"/followups/show/{task_id}"


def _task_message(title, title_key=None):
    """The notice naming the task: its title's message (``FollowUp.title_key``, kept again as
    its message id) when the system named the task, else the title as typed."""
    if title_key:
        title = stored_text.message(title_key)
    return _l("A follow-up task was assigned to you: %(title)s", title=title or "")


def _assigned_now(task: FollowUp, new: bool):
    """The task's assignee when this flush gave it one (a new task or a changed assignee)."""
    if task.assignee_id is None or task.status not in (None, "open"):
        return None
    if new:
        return task.assignee_id
    history = inspect(task).attrs.assignee_id.history
    return task.assignee_id if history.has_changes() else None


def _after_flush(session, _context) -> None:
    tasks = [(task, True) for task in session.new if isinstance(task, FollowUp)]
    tasks += [(task, False) for task in session.dirty if isinstance(task, FollowUp)]
    if not tasks:
        return
    actor = current_user()
    actor_id = getattr(actor, "id", None)
    for task, new in tasks:
        assignee = _assigned_now(task, new)
        if assignee is None or assignee == actor_id:
            continue
        notify(session, [assignee], kinds.TASK_ASSIGNED,
               _task_message(task.title, task.title_key),
               link=task_link(task.id), entity="FollowUp", entity_id=task.id,
               customer_id=task.customer_id, actor_id=actor_id)


def install(session) -> None:
    """Watch every flush for follow-up tasks given to someone (once per session factory)."""
    if not event.contains(session, "after_flush", _after_flush):
        event.listen(session, "after_flush", _after_flush)


def tasks_inserted(session, task_ids) -> None:
    """Tasks written by a set-based INSERT (no ORM objects): notify their assignees. A task
    the session hook has already told its assignee about (one added through the ORM) is not
    told twice. A task the system titled is named by its ``title_key`` (the notice keeps the
    message, not the title column's text, which is in one language only)."""
    ids = list(task_ids)
    for start in range(0, len(ids), IN_CHUNKS):
        chunk = ids[start:start + IN_CHUNKS]
        rows = session.execute(
            select(FollowUp.id, FollowUp.assignee_id, FollowUp.customer_id, FollowUp.title,
                   FollowUp.title_key)
            .where(FollowUp.id.in_(chunk), FollowUp.assignee_id.is_not(None)),
            execution_options={"crm_unscoped": True}).all()
        told = set(session.execute(select(Notification.entity_id, Notification.recipient_id)
                                   .where(Notification.kind == kinds.TASK_ASSIGNED,
                                          Notification.entity == "FollowUp",
                                          Notification.entity_id.in_(chunk))).all())
        for task_id, assignee_id, customer_id, stored_title, title_key in rows:
            if (task_id, assignee_id) in told:
                continue
            notify(session, [assignee_id], kinds.TASK_ASSIGNED,
                   _task_message(stored_title, title_key),
                   link=task_link(task_id), entity="FollowUp", entity_id=task_id,
                   customer_id=customer_id)


# --- approvals waiting ------------------------------------------------------------------------


def approvers(session, permission: str, view: str, branch_id, exclude=None) -> list[int]:
    """Active holders of ``permission`` on ``view`` whose record scope covers the branch
    ``branch_id``: those who work in it, else (nobody there holds it) every one of them."""
    held = session.scalars(holders_of(permission, view)).all()
    staff = session.scalars(select(Staff).where(Staff.id.in_(held))).all() if held else []
    probe = Customer(branch_id=branch_id)
    covering = [person for person in staff
                if person.id != exclude and scope_for_user(person).permits_customer(probe)]
    here = [person.id for person in covering if person.branch_id == branch_id]
    return here or [person.id for person in covering]


def change_request_waiting(session, request, actor) -> None:
    """A change request was filed: its checkers (``can_approve`` on ``ChangeRequest``) in the
    request's branch are told."""
    notify(session, approvers(session, "can_approve", "ChangeRequest", request.branch_id,
                              exclude=getattr(actor, "id", None)),
           kinds.APPROVAL_WAITING,
           _l("Change request %(id)s is waiting for your approval.", id=request.id),
           link=f"/review/show/{request.id}", entity="ChangeRequest", entity_id=request.id,
           customer_id=request.customer_id, actor_id=getattr(actor, "id", None))


def export_request_waiting(session, request, actor, may_decide) -> None:
    """An export above the cap was asked for: the holders of ``can_approve`` on
    ``ExportRequest`` who may decide it (``may_decide(user, request)``, the export rules: a
    second person whose scope covers the requester's) are told."""
    held = session.scalars(holders_of("can_approve", "ExportRequest")).all()
    staff = session.scalars(select(Staff).where(Staff.id.in_(held))).all() if held else []
    notify(session, [person.id for person in staff if may_decide(person, request)],
           kinds.APPROVAL_WAITING,
           _l("Export request %(id)s is waiting for your approval.", id=request.id),
           link="/exportrequests/", entity="ExportRequest", entity_id=request.id,
           actor_id=getattr(actor, "id", None))


def campaign_waiting(session, campaign, actor) -> None:
    """A campaign was submitted: the holders of ``can_approve`` on ``Campaign`` (other than
    its author) are told. Campaigns are bank-wide, so no branch narrows them."""
    actor_id = getattr(actor, "id", None)
    held = session.scalars(holders_of("can_approve", "Campaign")).all()
    notify(session, [staff_id for staff_id in held if staff_id != actor_id],
           kinds.APPROVAL_WAITING,
           _l("Campaign %(name)s is waiting for your approval.", name=campaign.name or ""),
           link=f"/campaigns/show/{campaign.id}", entity="Campaign", entity_id=campaign.id,
           actor_id=actor_id)


# --- imports finished -------------------------------------------------------------------------


def import_finished(session, batch, status: str | None = None) -> None:
    """A batch committed, failed or was interrupted: its uploader is told (``status`` when the
    change was written by a Core UPDATE the object has not seen)."""
    status = status or batch.status
    if batch.uploaded_by_id is None or status not in ("committed", "failed", "interrupted"):
        return
    notify(session, [batch.uploaded_by_id], kinds.IMPORT_FINISHED, _import_message(batch, status),
           link=f"/imports/batch/{batch.id}", entity="ImportBatch", entity_id=batch.id)


def _import_message(batch, status: str):
    name = batch.filename or ""
    if status == "committed":
        return _l("Import %(file)s finished: %(created)s created, %(updated)s updated, "
                  "%(rejected)s rejected.", file=name, created=batch.created_count or 0,
                  updated=batch.updated_count or 0, rejected=batch.rejected_count or 0)
    if status == "failed":
        return _l("Import %(file)s failed.", file=name)
    return _l("Import %(file)s was interrupted; resume it or abandon it.", file=name)
