"""Dates of occasions: which calendar day a greeting is for, and when quiet hours end.

Pure functions on dates (no database), so that leap years, lunar festivals and quiet hours are
tested by themselves. Lunar dates come from ``lunardate`` (a maintained pure-Python Chinese
calendar with tables for 1900-2099).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from lunardate import LunarDate

QUIET_START = dt.time(21, 0)
QUIET_END = dt.time(8, 0)
QUIET_CHANNELS = ("sms", "phone")  # no SMS or calls at night; e-mail waits in the inbox


def lunar_to_solar(year: int, lunar_month: int, lunar_day: int) -> dt.date:
    """The Gregorian date of a lunar month/day in the lunar year that begins in ``year``."""
    return LunarDate(year, lunar_month, lunar_day).to_solar_date()


def festival_falls_on(day: dt.date, lunar_month: int, lunar_day: int) -> bool:
    """Whether ``day`` is the festival (Spring Festival 1/1, Mid-Autumn 8/15, ...).

    Spring Festival and Mid-Autumn always fall in the Gregorian year that shares the lunar
    year's number, so one conversion per year suffices.
    """
    try:
        return lunar_to_solar(day.year, lunar_month, lunar_day) == day
    except ValueError:  # outside the library's range, or a day the lunar month lacks
        return False


def anniversary_days(target: dt.date) -> list[tuple[int, int]]:
    """The (month, day) pairs whose yearly occasion falls on ``target``.

    29 February occasions are kept on 28 February in common years: a customer born on a leap
    day is greeted every year, not every fourth.
    """
    days = [(target.month, target.day)]
    if (target.month, target.day) == (2, 28) and not _is_leap(target.year):
        days.append((2, 29))
    return days


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def in_quiet_hours(local: dt.datetime) -> bool:
    """21:00 to 08:00 local time."""
    t = local.time()
    return t >= QUIET_START or t < QUIET_END


def quiet_hours_end(local: dt.datetime) -> dt.datetime:
    """The next 08:00 local after ``local`` (the same morning when it is before 08:00)."""
    morning = local.replace(hour=QUIET_END.hour, minute=0, second=0, microsecond=0)
    return morning if local.time() < QUIET_END else morning + dt.timedelta(days=1)


def zone(app_config) -> ZoneInfo:
    return ZoneInfo(app_config.get("CRM_DISPLAY_TIMEZONE") or "Asia/Shanghai")


def to_local(utc_naive: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    return utc_naive.replace(tzinfo=dt.timezone.utc).astimezone(tz)


def to_utc_naive(local: dt.datetime) -> dt.datetime:
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


def defer_until(now_utc: dt.datetime, channel: str, tz: ZoneInfo) -> dt.datetime | None:
    """When a message on ``channel`` may go out if not now (UTC), or None if it may go now."""
    if channel not in QUIET_CHANNELS:
        return None
    local = to_local(now_utc, tz)
    if not in_quiet_hours(local):
        return None
    return to_utc_naive(quiet_hours_end(local))
