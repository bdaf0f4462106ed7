"""Quiet hours: SMS and calls wait out the night, e-mail and WeChat do not."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from backoffice.messaging import quiet


def test_quiet_hours_run_from_21_00_to_08_00_local_and_defer_to_the_morning():
    """SMS at 20:59 goes; at 21:00 and at 07:59 it waits until 08:00; e-mail never waits."""
    tz = ZoneInfo("Asia/Shanghai")

    def utc(local):
        return quiet.to_utc_naive(local.replace(tzinfo=tz))

    assert quiet.defer_until(utc(dt.datetime(2026, 5, 1, 20, 59)), "sms", tz) is None
    assert quiet.defer_until(utc(dt.datetime(2026, 5, 1, 21, 0)), "sms", tz) == utc(
        dt.datetime(2026, 5, 2, 8, 0))
    assert quiet.defer_until(utc(dt.datetime(2026, 5, 2, 7, 59)), "phone", tz) == utc(
        dt.datetime(2026, 5, 2, 8, 0))
    assert quiet.defer_until(utc(dt.datetime(2026, 5, 1, 23, 0)), "email", tz) is None


def test_quiet_channels_are_the_channels_that_say_so():
    """Quiet hours come from each channel's ``quiet_hours``, not from a list of names."""
    from backoffice.messaging import registry

    assert set(registry.quiet_channels()) == {"sms", "phone"}
    assert quiet.defer_until(dt.datetime(2026, 5, 1, 15, 0), "wechat",
                             ZoneInfo("Asia/Shanghai")) is None  # 23:00 local
