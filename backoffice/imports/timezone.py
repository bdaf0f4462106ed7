"""Times in a spreadsheet are local wall-clock times; the database stores naive UTC."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def to_utc(value: dt.datetime) -> dt.datetime:
    """A naive local time (``CRM_DISPLAY_TIMEZONE``, Asia/Shanghai by default) as naive UTC."""
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    name = current_app.config.get("CRM_DISPLAY_TIMEZONE") if has_app_context() else None
    zone = ZoneInfo(name or "Asia/Shanghai")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(dt.UTC).replace(tzinfo=None)
