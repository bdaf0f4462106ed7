"""Retention tasks from warnings, and escalation of overdue P1 tasks, as set-based statements.

P1 and P2 customers get one open retention task (``follow_up``: task_type ``retention``, source
``churn``) for their relationship manager; a customer who already has an open one gets nothing
new, so scoring twice never doubles a task. A P1 task still open after its due time escalates:
the branch manager of the customer's branch gets a task of their own (source ``sla``), once.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, insert, literal, select

from backoffice import stored_text
from backoffice.notifications.sources import tasks_inserted
from backoffice.security.holders import escalation_target_in
from backoffice.service import sla
from models import Customer, FollowUp
from models.churn import ChurnScore

DEFAULT_DUE_WORKING_DAYS = {"P1": 2, "P2": 5}
END_OF_DAY = dt.time(17, 30)  # local time a day's promise falls due
TASK_TYPE, SOURCE, ESCALATION_SOURCE = "retention", "churn", "sla"


def add_working_days(start: dt.date, days: int) -> dt.date:
    """``days`` working days after ``start`` on the Chinese working-day calendar.

    The service room's calendar (``backoffice.service.sla``: public holidays and adjusted
    working weekends) is the bank's one definition of a working day; retention tasks use it too
    so that a P1 promise made before National Day does not fall due during the holiday week.
    """
    return sla.add_working_days(start, days)


def due_at(as_of: dt.datetime, tier: str) -> dt.datetime:
    """The task's due time (naive UTC): N working days after today, at the end of the day."""
    days = {**DEFAULT_DUE_WORKING_DAYS,
            **(current_app.config.get("CRM_CHURN_DUE_WORKING_DAYS") or {})}[tier]
    zone = ZoneInfo(current_app.config["CRM_DISPLAY_TIMEZONE"])
    local_today = as_of.replace(tzinfo=dt.UTC).astimezone(zone).date()
    local_due = dt.datetime.combine(add_working_days(local_today, days), END_OF_DAY, zone)
    return local_due.astimezone(dt.UTC).replace(tzinfo=None)


def _title_message(tier: str):
    return _l("Churn warning %(tier)s: retention follow-up", tier=tier)


def _escalation_message():
    return _l("Escalated: overdue P1 retention follow-up")


def _in_default_language(message) -> str:
    """The title column's text: the bank's default language, whoever runs the job. The task
    (``title_key``) and the assignees' notices keep the message itself and read in their
    reader's language; this text is what sorting and the database's own readers see."""
    from flask_babel import force_locale

    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")):
        return str(message)


def _title(tier: str) -> str:
    return _in_default_language(_title_message(tier))


def _escalation_title() -> str:
    return _in_default_language(_escalation_message())


def create_retention_tasks(session, as_of: dt.datetime, lo: int | None = None,
                           hi: int | None = None) -> int:
    """Insert the missing open retention tasks of P1/P2 customers; returns how many."""
    created = 0
    for tier in ("P1", "P2"):
        already = exists().where(FollowUp.customer_id == ChurnScore.customer_id,
                                 FollowUp.task_type == TASK_TYPE, FollowUp.status == "open")
        rows = (select(ChurnScore.customer_id, Customer.owner_id, literal(_title(tier)),
                       literal(TASK_TYPE), literal(due_at(as_of, tier)), literal("open"),
                       literal(SOURCE), literal(as_of))
                .join(Customer, Customer.id == ChurnScore.customer_id)
                .where(ChurnScore.warning_tier == tier, ~already))
        if lo is not None:
            rows = rows.where(ChurnScore.customer_id.between(lo, hi))
        created += _insert_tasks(session, rows, _title_message(tier))
    return created


def escalate_overdue(session, now: dt.datetime) -> int:
    """Give the branch manager a task for every overdue open P1 retention task (once)."""
    escalated = exists().where(FollowUp.customer_id == Customer.id,
                               FollowUp.task_type == TASK_TYPE,
                               FollowUp.source == ESCALATION_SOURCE, FollowUp.status == "open")
    overdue = (select(FollowUp.customer_id)
               .join(ChurnScore, ChurnScore.customer_id == FollowUp.customer_id)
               .where(FollowUp.task_type == TASK_TYPE, FollowUp.source == SOURCE,
                      FollowUp.status == "open", FollowUp.due_at < now,
                      ChurnScore.warning_tier == "P1"))
    manager = escalation_target_in(Customer.branch_id)
    rows = (select(Customer.id, manager, literal(_escalation_title()), literal(TASK_TYPE),
                   literal(due_at(now, "P1")), literal("open"), literal(ESCALATION_SOURCE),
                   literal(now))
            .where(Customer.id.in_(overdue), ~escalated, manager.is_not(None)))
    return _insert_tasks(session, rows, _escalation_message())


def _insert_tasks(session, rows, title=None) -> int:
    """INSERT ... SELECT the task rows; returns how many were inserted.

    Counted from ``RETURNING id``: the driver's row count of an ``INSERT ... SELECT`` on
    PostgreSQL came back as 0 here although rows were written. ``title``: the message the
    rows' title was translated from; the rows carry it as ``title_key`` (a column added to
    ``rows``), so that the task and its assignee's notice read in each reader's language.
    """
    columns = ["customer_id", "assignee_id", "title", "task_type", "due_at", "status", "source",
               "created_at"]
    if title is not None:
        columns.append("title_key")
        rows = rows.add_columns(literal(stored_text.keep(title)))
    result = session.execute(insert(FollowUp).from_select(columns, rows).returning(FollowUp.id),
                             execution_options={"crm_unscoped": True})
    ids = result.scalars().all()
    tasks_inserted(session, ids)  # their assignees are told, in their own language
    return len(ids)
