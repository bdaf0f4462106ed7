"""Service levels counted in Chinese working days.

A "two working days" promise made on the Friday before National Day does not fall due during
the holiday week, and an adjusted working Saturday (调休上班) counts. ``chinesecalendar`` carries
the State Council's published holiday schedule, year by year; for a year it does not know yet
(published each November), the plain Monday-Friday rule is used and a warning logged.
"""
from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

# Working days allowed per follow-up task type (CRM_SLA_WORKING_DAYS overrides).
DEFAULT_SLA_DAYS = {
    "callback": 1,
    "inquiry_answer": 2,
    "complaint_resolution": 5,
    "loan_progress": 1,
    "retention": 3,
    "greeting_call": 1,
    "other": 3,
}
END_OF_DAY = dt.time(17, 30)  # when a day's promise falls due, local time


def is_working_day(day: dt.date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        log.warning("no Chinese holiday schedule for %s yet: counting Monday-Friday", day.year)
        return day.weekday() < 5


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``start`` (``start`` itself is not counted).

    ``days`` = 0 gives ``start`` if it is a working day, else the next working day.
    """
    day = start
    if days <= 0:
        while not is_working_day(day):
            day += dt.timedelta(days=1)
        return day
    remaining = days
    while remaining:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if ``end`` <= ``start``)."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += is_working_day(day)
    return count


def sla_days(task_type: str, config=None) -> int:
    overrides = (config or {}).get("CRM_SLA_WORKING_DAYS") or {}
    return int(overrides.get(task_type, DEFAULT_SLA_DAYS.get(task_type, DEFAULT_SLA_DAYS["other"])))


def due_at(task_type: str, created_utc: dt.datetime, tz: ZoneInfo, config=None) -> dt.datetime:
    """The due time (naive UTC) of a task of ``task_type`` opened at ``created_utc``."""
    local = created_utc.replace(tzinfo=dt.timezone.utc).astimezone(tz)
    day = add_working_days(local.date(), sla_days(task_type, config))
    due_local = dt.datetime.combine(day, END_OF_DAY, tzinfo=tz)
    return due_local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def default_due(task_type: str | None, config, created_utc: dt.datetime | None = None
                ) -> dt.datetime:
    """The SLA due time for a task whose creator left the due date empty.

    Screens, the API and the use cases that open tasks (loan notices, complaints) all call this,
    so a "callback" typed at the counter on the Friday before National Day falls due after the
    holiday, the same as one opened by a job.
    """
    from backoffice.messaging.quiet import zone
    from models.base import utcnow

    return due_at(task_type or "other", created_utc or utcnow(), zone(config), config)
