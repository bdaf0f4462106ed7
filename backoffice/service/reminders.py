"""Daily reminders: escalate overdue inquiries to whoever holds the branch's escalation grant,
and e-mail each member of staff a digest of their overdue and due-today tasks.

Both are set-based: one INSERT ... SELECT opens the escalation tasks, one UPDATE marks the
originals (``escalated_at`` is set once, so re-running escalates nothing twice), and one query
collects every digest's tasks. The service room owns the use case; ``jobs.reminders`` is the RQ
entry point (scheduled by ``jobs.greetings_cron`` at 08:30) that calls :func:`run_daily`.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, insert, literal, select, update

from backoffice import events, stored_text
from backoffice.messaging import quiet as calendar
from backoffice.messaging.channels import mail as channels  # SmtpChannel, SendError
from backoffice.security.holders import escalation_target_in
from models import Customer, FollowUp, Staff


TASK_OVERDUE = "task.overdue"
events.declare(TASK_OVERDUE, _l("Task overdue"), "follow_up")


def publish_overdue(session, now: dt.datetime) -> int:
    """One ``task.overdue`` event per open task past its due time (per due time: a task whose
    due date is moved and missed again is overdue again); committed with the escalations."""
    if not events.wanted(TASK_OVERDUE):
        return 0
    rows = session.execute(
        select(FollowUp.id, FollowUp.customer_id, FollowUp.assignee_id, FollowUp.due_at,
               FollowUp.task_type, Customer.branch_id)
        .join(Customer, Customer.id == FollowUp.customer_id)
        .where(FollowUp.status == "open", FollowUp.due_at < now),
        execution_options={"crm_unscoped": True}).all()
    return events.publish_rows(session, TASK_OVERDUE, [
        {"entity": "follow_up", "entity_id": r.id, "customer_id": r.customer_id,
         "branch_id": r.branch_id, "occurrence": f"task_overdue:{r.id}:{r.due_at.isoformat()}",
         "data": {"assignee_id": r.assignee_id, "task_type": r.task_type,
                  "due_at": r.due_at}} for r in rows])


def escalate_overdue_inquiries(session, now: dt.datetime) -> int:
    """Unanswered inquiries past their SLA go to the branch's escalation target, once."""
    manager = escalation_target_in(Customer.branch_id)
    overdue = and_(FollowUp.task_type == "inquiry_answer", FollowUp.status == "open",
                   FollowUp.escalated_at.is_(None), FollowUp.due_at < now)
    source = (select(FollowUp.customer_id, manager, FollowUp.interaction_id,
                     FollowUp.title,  # the source "sla" says it is an escalation, in any language
                     FollowUp.title_key,  # a system title reads in each reader's language
                     literal("inquiry_answer"), literal(now), literal("open"), literal("sla"),
                     FollowUp.notes, literal(now))
              .join(Customer, Customer.id == FollowUp.customer_id)
              .where(overdue, manager.isnot(None)))
    session.execute(insert(FollowUp).from_select(
        ["customer_id", "assignee_id", "interaction_id", "title", "title_key", "task_type",
         "due_at", "status", "source", "notes", "created_at"], source))
    manager_of_row = (select(escalation_target_in(Customer.branch_id))
                      .where(Customer.id == FollowUp.customer_id).scalar_subquery())
    changed = session.execute(
        update(FollowUp).where(overdue, manager_of_row.isnot(None))
        .values(escalated_at=now, escalated_to_id=manager_of_row),
        execution_options={"synchronize_session": False}).rowcount
    session.commit()
    return changed or 0


def digest_rows(session, now: dt.datetime, tz) -> dict[int, list]:
    """Open tasks due by the end of today (local), per assignee, overdue first."""
    local_end = dt.datetime.combine(calendar.to_local(now, tz).date() + dt.timedelta(days=1),
                                    dt.time(0, 0), tzinfo=tz)
    end = calendar.to_utc_naive(local_end)
    rows = session.execute(
        select(FollowUp.assignee_id, FollowUp.title, FollowUp.title_key, FollowUp.due_at,
               FollowUp.task_type, Customer.customer_no)
        .join(Customer, Customer.id == FollowUp.customer_id)
        .where(FollowUp.status == "open", FollowUp.due_at < end,
               FollowUp.assignee_id.isnot(None))
        .order_by(FollowUp.assignee_id, FollowUp.due_at)).all()
    grouped = defaultdict(list)
    for row in rows:
        grouped[row.assignee_id].append(row)
    return grouped


def send_digests(session, config, now: dt.datetime) -> dict:
    tz = calendar.zone(config)
    grouped = digest_rows(session, now, tz)
    staff = {s.id: s for s in session.scalars(select(Staff).where(Staff.id.in_(list(grouped))))}
    smtp = channels.SmtpChannel(config)
    sent, failed = 0, []
    for assignee_id, rows in grouped.items():
        person = staff.get(assignee_id)
        if person is None or not person.email:
            continue
        overdue = sum(1 for r in rows if r.due_at < now)
        lines = [f"{'逾期' if r.due_at < now else '今日到期'}  "
                 f"{calendar.to_local(r.due_at, tz):%m-%d %H:%M}  {r.customer_no}  "
                 f"{stored_text.show(r.title_key) if r.title_key else r.title}"
                 for r in rows]
        body = (f"{person}：您有 {overdue} 项逾期任务、{len(rows) - overdue} 项今日到期任务。\n\n"
                + "\n".join(lines))
        try:
            smtp.prepare(person.email, f"每日待办提醒：逾期 {overdue} 项", body,
                         f"digest-{assignee_id}-{now:%Y%m%d}").finish()
            sent += 1
        except channels.SendError as exc:
            failed.append({"staff_id": assignee_id, "error": str(exc)})
    smtp.quit()
    return {"digests_sent": sent, "digest_failures": failed}


def run_daily(session, config, now: dt.datetime, progress) -> dict:
    """Escalations first (so the targets' digests include them), then the digests."""
    progress.update(0, total=2, message=_l("Escalating overdue inquiries"))
    publish_overdue(session, now)  # rules and webhooks hear of each overdue task once
    escalated = escalate_overdue_inquiries(session, now)
    progress.update(1, message=_l("Sending digests"))
    result = send_digests(session, config, now)
    progress.update(2)
    return {"escalated": escalated, **result}
