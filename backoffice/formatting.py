"""Display helpers: times in the configured zone, money with separators, choice labels.

Values are stored in UTC and as codes; only what a person sees is converted, in one place.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app


def local_time(value: dt.datetime | None) -> str:
    """A naive-UTC datetime as text in the display zone (Asia/Shanghai by default)."""
    if not value:
        return ""
    zone = ZoneInfo(current_app.config["CRM_DISPLAY_TIMEZONE"])
    return value.replace(tzinfo=dt.timezone.utc).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def money(value: Decimal | None) -> str:
    """An amount with thousands separators and two decimals (a hidden value passes as is)."""
    if value is None or isinstance(value, str):
        return value or ""
    return f"{value:,.2f}"


def yes_no(value) -> str:
    """A boolean as a translated yes/no instead of Python's True/False/None."""
    from flask_babel import gettext

    if value is None or value == "":
        return ""
    return gettext("Yes") if value else gettext("No")


def choice_label(mapping: dict):
    """A formatter showing the translated label of a stored code."""

    def _format(value):
        return mapping.get(value, value) if value is not None else ""

    return _format


def install(app: Flask) -> None:
    """Make the helpers available to templates."""
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["money"] = money
