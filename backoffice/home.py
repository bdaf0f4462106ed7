"""The home page every user lands on after login: their role's dashboard panels.

Panels come from ``backoffice.dashboards.registry`` (built-in ones and those other rooms add),
filtered by the panel permissions the user's roles hold and drawn with the figures of the user's record scope. A panel that
fails to build is logged and shown as unavailable; it never takes the home page down with it.

Until the bank is set up, whoever may import its staff (the administrator:
``can_import_staff``, ``config/roles.py``) sees the first-day checklist above the panels
(:func:`first_day_checklist`): branches, staff, products, custom fields and a first customer
import, each with a link and whether it is done. Each mark is one ``EXISTS`` query, so the
checklist costs nothing on a big bank; it disappears once every step is done.
"""
from __future__ import annotations

import logging

from flask import redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import exists, select

log = logging.getLogger(__name__)


def built_panels(user) -> list[dict]:
    """``[{"panel", "data", "failed"}]`` for the panels the user's roles grant."""
    from backoffice.dashboards.registry import panels_for

    out = []
    for panel in panels_for(user):
        try:
            data = panel.build()
        except Exception:
            log.exception("dashboard panel %s failed", panel.key)
            out.append({"panel": panel, "data": None, "failed": True})
            continue
        if data is not None:
            out.append({"panel": panel, "data": data, "failed": False})
    return out


def first_day_checklist(user) -> list[dict] | None:
    """``[{"key", "label", "url", "done"}]`` for a user who sets the bank up, while any step is
    left; None otherwise."""
    from backoffice.extensions import db
    from backoffice.imports.kinds import may_import
    from backoffice.security.holders import holders_of
    from backoffice.security.policy import IMPORT_STAFF, IMPORT_VIEW
    from models import Branch, Product, Staff
    from models.fields import CustomFieldDefinition
    from models.imports import ImportBatch

    if user is None or not (may_import(user, "staff") and getattr(user, "roles", None)):
        return None
    session = db.session
    # Staff are imported once someone with a role exists besides those who set the bank up
    # (decided by the set-up grant, not by the administrator role's name).
    setting_up = holders_of(IMPORT_STAFF, IMPORT_VIEW).correlate(None)  # its own Staff rows
    upload = url_for("ImportView.upload")

    def done(query) -> bool:
        return bool(session.execute(select(exists(query)).execution_options(
            crm_unscoped=True)).scalar())

    steps = [
        ("branches", _l("Import the branches"), upload, done(select(Branch.id))),
        ("staff", _l("Import the staff (each gets a one-time set-password link)"), upload,
         done(select(Staff.id).where(Staff.roles.any(), Staff.id.not_in(setting_up)))),
        ("products", _l("Import the products"), upload, done(select(Product.id))),
        ("custom_fields", _l("Define the custom fields"), url_for("CustomFieldView.list"),
         done(select(CustomFieldDefinition.id))),
        ("customers", _l("Import the first customers (a data operator)"),
         url_for("ImportView.index"), done(select(ImportBatch.id).where(
             ImportBatch.kind == "customers", ImportBatch.status == "committed"))),
    ]
    if all(step[3] for step in steps):
        return None
    return [{"key": key, "label": label, "url": url, "done": is_done}
            for key, label, url, is_done in steps]


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
            checklist=first_day_checklist(sm.current_user),
            can_refresh=sm.has_access("can_refresh", "Dashboard"))
