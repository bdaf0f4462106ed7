"""Service levels in Chinese working days, around the National Day holiday."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from backoffice.service import sla


def test_working_days_skip_the_national_day_week_and_count_adjusted_weekends():
    """2025: 1-8 October off (National Day + Mid-Autumn), Sun 28 Sep and Sat 11 Oct worked."""
    assert sla.is_working_day(dt.date(2025, 9, 28))  # Sunday, adjusted working day
    assert not sla.is_working_day(dt.date(2025, 10, 1))
    assert not sla.is_working_day(dt.date(2025, 10, 8))
    assert sla.is_working_day(dt.date(2025, 10, 11))  # Saturday, adjusted working day
    assert sla.add_working_days(dt.date(2025, 9, 26), 1) == dt.date(2025, 9, 28)
    assert sla.add_working_days(dt.date(2025, 9, 30), 1) == dt.date(2025, 10, 9)
    assert sla.add_working_days(dt.date(2025, 9, 30), 3) == dt.date(2025, 10, 11)
    assert sla.add_working_days(dt.date(2025, 10, 3), 0) == dt.date(2025, 10, 9)
    assert sla.working_days_between(dt.date(2025, 9, 30), dt.date(2025, 10, 9)) == 1


def test_due_time_of_a_task_is_end_of_the_working_day_in_shanghai():
    """An inquiry (2 working days) opened 30 Sep 2025 15:00 local is due 10 Oct 17:30 local."""
    tz = ZoneInfo("Asia/Shanghai")
    opened = dt.datetime(2025, 9, 30, 7, 0)  # 15:00 local
    assert sla.due_at("inquiry_answer", opened, tz) == dt.datetime(2025, 10, 10, 9, 30)
    assert sla.due_at("inquiry_answer", opened, tz,
                      {"CRM_SLA_WORKING_DAYS": {"inquiry_answer": 1}}) == dt.datetime(
        2025, 10, 9, 9, 30)
