"""Staff login statistics, drawn by the app's own charts.

Flask-AppBuilder's "User's Statistics" screen draws with Google Charts loaded from gstatic.com,
so on a bank intranet (no internet, DESIGN §5) it stays blank. This view takes its place under
the same class name, URL and permission (``can_chart`` on ``UserStatsChartView``, granted to
admins in ``config/roles.py``), so role grants and menus carry over, and draws with Plotly from
``backoffice.charts``. Figures are per member of staff (configuration, not customer data): the
busiest accounts in a chart, all of them in a table with failed logins and the last login.
"""
from __future__ import annotations

from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice import charts

CHART_USERS = 20  # the chart shows the busiest accounts; the table lists everyone


def _display_name(user) -> str:
    """Family name first (Chinese order), with the login name that admins search by."""
    name = f"{user.last_name or ''}{user.first_name or ''}".strip()
    return f"{name} ({user.username})" if name else user.username


class UserStatsChartView(BaseView):
    """Logins and failed logins per member of staff."""

    route_base = "/userstatschartview"
    default_view = "chart"

    @expose("/chart/")
    @has_access
    def chart(self):
        from flask import current_app

        from backoffice.extensions import db

        user_model = current_app.appbuilder.sm.user_model
        users = db.session.scalars(
            select(user_model).order_by(user_model.login_count.desc().nulls_last(),
                                        user_model.username)).all()
        busiest = users[:CHART_USERS]
        figure = charts.bar_groups(
            [_display_name(u) for u in busiest],
            {_("Logins"): [u.login_count or 0 for u in busiest],
             _("Failed logins"): [u.fail_login_count or 0 for u in busiest]},
            title=_("Logins per member of staff (the %(count)d busiest)", count=CHART_USERS),
            empty_text=_("Nobody has logged in yet. The figures appear after the first logins."))
        return self.render_template("charts/user_stats.html", figure=figure,
                                    users=[(u, _display_name(u)) for u in users],
                                    title=_l("User's Statistics"))
