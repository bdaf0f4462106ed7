"""What a home panel shows when it has nothing to draw: why, and what to do next (with a link).

An empty chart (axes from -1 to 1) or a row of zero bars tells a new user nothing. A panel's
``build()`` returns :func:`empty_state` instead: a sentence saying why there is nothing (the
figures were never computed, or nothing happened in the user's book) and one action the user
may take. The link is drawn only when the user may open it (``has_access`` on the view's
method, as the menu decides), so nobody is sent to a 404.
"""
from __future__ import annotations

from flask import current_app, url_for
from sqlalchemy import func, select

from models.summaries import DashboardSummary

REFRESH_ANCHOR = "#refresh-figures"  # the "refresh figures" button above the panels


def empty_state(message, action=None, url=None) -> dict:
    """The ``data`` of a panel with nothing to draw (``panels.html`` shows it)."""
    return {"empty": {"message": str(message), "action": str(action) if action else None,
                      "url": url if action else None}}


def link_if_allowed(view_name: str, method: str = "list", **values) -> str | None:
    """The URL of ``view_name.method`` if the current user may open it, else None."""
    appbuilder = current_app.appbuilder
    view = next((v for v in appbuilder.baseviews if v.__class__.__name__ == view_name), None)
    if view is None:
        return None
    permission = f"can_{view.method_permission_name.get(method, method)}" \
        if getattr(view, "method_permission_name", None) else f"can_{method}"
    if not appbuilder.sm.has_access(permission, view.class_permission_name):
        return None
    return url_for(f"{view.endpoint}.{method}", **values)


def never_computed(session) -> bool:
    """True when no refresh has written any figure yet: a fresh bank.

    A metric with no facts writes no rows, so one metric's rows cannot tell "never computed"
    from "nothing happened"; the whole table can (one refresh writes every metric). Reads one
    timestamp, no customer figure, so it says nothing about another user's book.
    """
    table = DashboardSummary.__table__
    return session.scalar(select(func.max(table.c.refreshed_at))) is None


def not_computed_state(session, *, can_refresh: bool | None = None):
    """The empty state of a panel on a bank whose figures were never computed, or None."""
    from flask_babel import gettext as _

    if not never_computed(session):
        return None
    if can_refresh is None:
        can_refresh = current_app.appbuilder.sm.has_access("can_refresh", "Dashboard")
    if can_refresh:
        return empty_state(_("The figures have not been computed yet."),
                           _("Refresh the figures now"), REFRESH_ANCHOR)
    return empty_state(_("The figures have not been computed yet: they are refreshed every "
                         "night, or by a manager with \u201cRefresh figures\u201d."))
