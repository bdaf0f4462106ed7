"""When a scheduled rule's slot is due: after its time, on Chinese working days only if asked
(a holiday weekday is not one, an adjusted working Sunday is), monthly on its day or the
month's last day when the month is shorter."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from backoffice.automation.schedule import slot_key
from backoffice.service import sla


def rule(kind, time="09:00", day=None):
    return SimpleNamespace(schedule_kind=kind, schedule_time=time, schedule_day=day)


def test_daily_after_its_time_only():
    assert slot_key(rule("daily"), dt.datetime(2026, 3, 2, 8, 59)) is None
    assert slot_key(rule("daily"), dt.datetime(2026, 3, 2, 9, 0)) == "2026-03-02"


def test_working_days_follow_the_chinese_calendar():
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(14)]
    for day in days:
        expected = day.isoformat() if sla.is_working_day(day) else None
        assert slot_key(rule("workdays"), dt.datetime.combine(day, dt.time(10))) == expected
    assert not sla.is_working_day(dt.date(2026, 10, 1))  # National Day


def test_monthly_on_its_day_or_the_last_day_of_a_shorter_month():
    assert slot_key(rule("monthly", day=31), dt.datetime(2026, 2, 28, 10)) == "2026-02"
    assert slot_key(rule("monthly", day=31), dt.datetime(2026, 2, 27, 10)) is None
    assert slot_key(rule("monthly", day=15), dt.datetime(2026, 3, 15, 10)) == "2026-03"
