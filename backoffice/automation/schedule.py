"""When a scheduled rule is due: the slot (a day, or a month) it runs for, once.

A slot's key is the occurrence of the run (``schedule:2026-12-07``), so the exactly-once ledger
makes a second run of the same slot (two ticks, a re-run after a killed worker) act on nothing
twice. Times are the display zone's (Asia/Shanghai by default); "working days" are the Chinese
calendar of ``backoffice.service.sla`` (holidays and adjusted weekends).
"""
from __future__ import annotations

import calendar
import datetime as dt

from backoffice.service import sla


def slot_key(rule, local_now: dt.datetime) -> str | None:
    """The slot due at ``local_now`` (its run time has passed), or None."""
    hour, minute = _time(rule.schedule_time)
    today = local_now.date()
    if local_now.time() < dt.time(hour, minute):
        return None
    if rule.schedule_kind == "daily":
        return today.isoformat()
    if rule.schedule_kind == "workdays":
        return today.isoformat() if sla.is_working_day(today) else None
    if rule.schedule_kind == "monthly":
        last = calendar.monthrange(today.year, today.month)[1]
        if today.day == min(int(rule.schedule_day or 1), last):
            return today.strftime("%Y-%m")
    return None


def _time(text) -> tuple[int, int]:
    try:
        hour, minute = (int(part) for part in str(text or "08:00").split(":", 1))
        return max(0, min(hour, 23)), max(0, min(minute, 59))
    except ValueError:
        return 8, 0
