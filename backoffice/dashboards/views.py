"""The dashboard's one action: refresh the figures now (a job; progress on the jobs screen)."""
from __future__ import annotations

from flask import flash, redirect, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l

from backoffice.audit.log import record
from config.roles import PANEL_PERMISSIONS


class DashboardView(BaseView):
    """``POST /dashboard/refresh``: enqueue the summary refresh (``can_refresh`` on Dashboard)."""

    route_base = "/dashboard"
    class_permission_name = "Dashboard"
    method_permission_name = {"refresh": "refresh"}  # noqa: RUF012 - FAB class settings
    # The refresh, and seeing each home panel (granted per role in config/roles.py).
    base_permissions = ["can_refresh", *PANEL_PERMISSIONS.values()]  # noqa: RUF012
    default_view = "refresh"

    @expose("/refresh", methods=["POST"])
    @has_access
    def refresh(self):
        from jobs.queue import enqueue

        user = self.appbuilder.sm.current_user
        run = enqueue("jobs.summaries.refresh", requested_by_id=user.id,
                      description=_l("Dashboard figures (on demand)"))
        record("dashboard_refresh", entity="JobRun", entity_id=run.id)
        if run.status == "failed":
            flash(_l("The figures could not be refreshed; the previous ones are kept."), "danger")
        elif run.status == "finished":
            flash(_l("The figures have been refreshed."), "success")
        else:
            flash(_l("The figures are being refreshed; reload the page in a minute."), "info")
        return redirect(url_for("HomeView.index"))


def register(appbuilder) -> None:
    from backoffice.dashboards import panels

    panels.install()
    appbuilder.add_view_no_menu(DashboardView)
