"""Occasion dates: lunar festivals over several years, leap days."""
from __future__ import annotations

import datetime as dt

import pytest

from backoffice.greetings import calendar

# Published dates (Spring Festival 正月初一, Mid-Autumn 八月十五).
SPRING = {2024: dt.date(2024, 2, 10), 2025: dt.date(2025, 1, 29), 2026: dt.date(2026, 2, 17),
          2027: dt.date(2027, 2, 6), 2028: dt.date(2028, 1, 26), 2029: dt.date(2029, 2, 13),
          2030: dt.date(2030, 2, 3)}
MID_AUTUMN = {2024: dt.date(2024, 9, 17), 2025: dt.date(2025, 10, 6),
              2026: dt.date(2026, 9, 25), 2027: dt.date(2027, 9, 15),
              2028: dt.date(2028, 10, 3), 2029: dt.date(2029, 9, 22),
              2030: dt.date(2030, 9, 12)}


@pytest.mark.parametrize("year", sorted(SPRING))
def test_lunar_festivals_fall_on_their_published_dates(year):
    """Spring Festival and Mid-Autumn move every year; only their own day matches."""
    assert calendar.lunar_to_solar(year, 1, 1) == SPRING[year]
    assert calendar.lunar_to_solar(year, 8, 15) == MID_AUTUMN[year]
    assert calendar.festival_falls_on(SPRING[year], 1, 1)
    assert not calendar.festival_falls_on(SPRING[year] + dt.timedelta(days=1), 1, 1)
    assert calendar.festival_falls_on(MID_AUTUMN[year], 8, 15)


def test_leap_day_occasions_move_to_28_february_only_in_common_years():
    """28 Feb 2027 also carries 29 Feb occasions; 28 Feb 2028 does not (29 Feb exists)."""
    assert calendar.anniversary_days(dt.date(2027, 2, 28)) == [(2, 28), (2, 29)]
    assert calendar.anniversary_days(dt.date(2028, 2, 28)) == [(2, 28)]
    assert calendar.anniversary_days(dt.date(2028, 2, 29)) == [(2, 29)]
    assert calendar.anniversary_days(dt.date(2100, 2, 28)) == [(2, 28), (2, 29)]  # not leap
