"""``/datawall/``: the wall page and the JSON it refreshes from.

``/datawall/`` shows the widest wall the viewer's scope opens (the bank's, else their branch's);
``/datawall/bank/`` and ``/datawall/branch/<id>/`` choose one, and answer 404 (not 403) for a
wall outside the scope, as a record would. ``…/figures`` is the same wall as JSON: the page's
script fetches it every ``CRM_DATAWALL_REFRESH_SECONDS`` and redraws in place.
"""
from __future__ import annotations

from flask import abort, current_app, jsonify, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import get_locale

from backoffice.dashboards.empty import never_computed
from backoffice.datawall import figures as wall_figures
from backoffice.datawall.tiles import payload
from backoffice.extensions import db
from backoffice.security.current import not_found_if_denied
from backoffice.security.policy import current_viewer


class DataWallView(BaseView):
    route_base = "/datawall"
    class_permission_name = "DataWall"
    method_permission_name = {name: "read" for name in (  # noqa: RUF012 - FAB class setting
        "index", "bank", "branch", "bank_figures", "branch_figures")}
    base_permissions = ["can_read"]  # noqa: RUF012
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        viewer = current_viewer()
        return self._page(wall_figures.default_wall(db.session, viewer.scope))

    @expose("/bank/")
    @not_found_if_denied
    @has_access
    def bank(self):
        return self._page(wall_figures.bank_wall(current_viewer().scope))

    @expose("/branch/<int:pk>/")
    @not_found_if_denied
    @has_access
    def branch(self, pk):
        return self._page(wall_figures.branch_wall(db.session, current_viewer().scope, pk))

    @expose("/bank/figures")
    @not_found_if_denied
    @has_access
    def bank_figures(self):
        return self._json(wall_figures.bank_wall(current_viewer().scope))

    @expose("/branch/<int:pk>/figures")
    @not_found_if_denied
    @has_access
    def branch_figures(self, pk):
        return self._json(wall_figures.branch_wall(db.session, current_viewer().scope, pk))

    @staticmethod
    def _payload(wall) -> dict:
        if wall is None:
            abort(404)
        data = wall_figures.wall_figures(db.session, wall, current_viewer())
        computed = data["refreshed_at"] is not None or not never_computed(db.session)
        return payload(wall, data, computed=computed)

    def _json(self, wall):
        return jsonify(self._payload(wall))

    def _page(self, wall):
        shown = self._payload(wall)
        self.update_redirect()  # the language switch comes back here
        viewer = current_viewer()
        if wall.branch_id is None:
            figures_url = url_for("DataWallView.bank_figures")
        else:
            figures_url = url_for("DataWallView.branch_figures", pk=wall.branch_id)
        choices = [{"key": key, "name": name,
                    "url": url_for("DataWallView.bank") if pk is None
                    else url_for("DataWallView.branch", pk=pk)}
                   for key, pk, name in wall_figures.walls_for(db.session, viewer.scope)]
        return self.render_template(
            "datawall/wall.html", wall=wall, shown=shown, choices=choices,
            figures_url=figures_url, lang=str(get_locale() or "zh"),
            refresh_seconds=int(current_app.config["CRM_DATAWALL_REFRESH_SECONDS"]))
