"""Quiet hours and the local clock: when a message on a channel may go out.

Pure functions on times (no database). A channel says whether it waits out the night
(``quiet_hours`` in :mod:`backoffice.messaging.registry`); SMS and calls do, e-mail does not.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from backoffice.messaging import registry

QUIET_START = dt.time(21, 0)
QUIET_END = dt.time(8, 0)


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
    if channel not in registry.quiet_channels():
        return None
    local = to_local(now_utc, tz)
    if not in_quiet_hours(local):
        return None
    return to_utc_naive(quiet_hours_end(local))
