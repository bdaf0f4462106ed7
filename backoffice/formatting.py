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


def local_time_seconds(value: dt.datetime | None) -> str:
    """Like :func:`local_time`, to the second (the operation log)."""
    if not value:
        return ""
    zone = ZoneInfo(current_app.config["CRM_DISPLAY_TIMEZONE"])
    return value.replace(tzinfo=dt.timezone.utc).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


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

    _format.labels = mapping  # what the operation log reads to show a logged code as its label
    return _format


def role_label(role) -> str:
    """A role (object or name) as its label in the user's language, not its code."""
    from config.roles import ROLES

    name = getattr(role, "name", role)
    spec = ROLES.get(name)
    return str(spec["label"]) if spec else str(name)


def display(value):
    """Any value as a screen shows it when its column has no formatter of its own: no Python
    ``None``/``True``/``False``, times in the display zone, lists joined, roles by label."""
    from flask_appbuilder.security.sqla.models import Role

    if value is None:
        return ""
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, dt.datetime):
        return local_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Role):
        return role_label(value)
    if isinstance(value, (list, tuple, set)):
        return "、".join(str(display(item)) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {display(item)}" for key, item in value.items())
    return value


class DisplayFormatters(dict):
    """A view's ``formatters_columns`` whose ``get`` falls back to :func:`display` (FAB's list
    and show templates ask ``formatters_columns.get(column)``)."""

    def get(self, key, default=None):
        return super().get(key, default if default is not None else display)


def with_display_defaults(views) -> None:
    """Give every registered screen the :func:`display` fallback (FAB's own screens too: its
    user list shows roles, booleans and times)."""
    from flask_appbuilder.security.sqla.models import Role

    for view in views:
        current = getattr(view, "formatters_columns", None)
        if current is None or isinstance(current, DisplayFormatters):
            continue
        view.formatters_columns = DisplayFormatters(current)
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if isinstance(model, type) and issubclass(model, Role):
            view.formatters_columns.setdefault("name", role_label)  # the roles screen


def install(app: Flask) -> None:
    """Make the helpers available to templates; the display fallback on every screen (called
    after the views are registered)."""
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["display"] = display
    appbuilder = getattr(app, "appbuilder", None)
    if appbuilder is not None:
        with_display_defaults(appbuilder.baseviews)
