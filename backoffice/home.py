"""The home page every user lands on after login."""
from __future__ import annotations

from flask import redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_login import current_user


class HomeView(IndexView):
    """Sends staff to their work; anonymous visitors to the login form."""

    route_base = ""
    index_template = "crm_index.html"

    @expose("/")
    def index(self):
        if not current_user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        return self.render_template(self.index_template, appbuilder=self.appbuilder)
