"""The home page every user lands on after login: their role's dashboard panels.

Panels come from ``backoffice.dashboards.registry`` (built-in ones and those other rooms add),
filtered by the user's roles and drawn with the figures of the user's record scope. A panel that
fails to build is logged and shown as unavailable; it never takes the home page down with it.
"""
from __future__ import annotations

import logging

from flask import redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_login import current_user

log = logging.getLogger(__name__)


def built_panels(user) -> list[dict]:
    """``[{"panel", "data", "failed"}]`` for the panels the user's roles may see."""
    from backoffice.dashboards.registry import panels_for

    out = []
    for panel in panels_for(role.name for role in user.roles):
        try:
            data = panel.build()
        except Exception:
            log.exception("dashboard panel %s failed", panel.key)
            out.append({"panel": panel, "data": None, "failed": True})
            continue
        if data is not None:
            out.append({"panel": panel, "data": data, "failed": False})
    return out


class HomeView(IndexView):
    """Staff see their dashboard; anonymous visitors go to the login form."""

    route_base = ""
    index_template = "crm_index.html"

    @expose("/")
    def index(self):
        if not current_user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        sm = self.appbuilder.sm
        return self.render_template(
            self.index_template, appbuilder=self.appbuilder,
            panels=built_panels(sm.current_user),
            can_refresh=sm.has_access("can_refresh", "Dashboard"))
