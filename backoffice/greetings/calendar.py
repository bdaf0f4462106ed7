"""Dates of occasions: which calendar day a greeting is for.

Pure functions on dates (no database), so that leap years and lunar festivals are tested by
themselves; quiet hours and the local clock belong to messaging (``backoffice.messaging.quiet``).
Lunar dates come from ``lunardate`` (a maintained pure-Python Chinese calendar with tables for
1900-2099).
"""
from __future__ import annotations

import datetime as dt

from lunardate import LunarDate


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
