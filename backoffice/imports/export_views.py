"""``/exportrequests/``: ask for an export above the cap, decide on requests, download once.

The pages hold no customer data: a request names a list, its filters and a row count. The file
itself comes from the list's own export (see :mod:`backoffice.imports.export_requests`).
"""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.urltools import get_filter_args
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from backoffice.audit.words import entity_label
from backoffice.security.current import current_user
from backoffice.exports import FORMATS, export_limit
from backoffice.extensions import db
from backoffice.imports import export_requests as requests_
from models.imports import ExportRequest

METHOD_PERMISSIONS = {"index": "read", "ask": "read", "download": "read", "decide": "approve"}


class ExportRequestView(BaseView):
    route_base = "/exportrequests"
    class_permission_name = "ExportRequest"
    method_permission_name = METHOD_PERMISSIONS
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        user = current_user()
        return self.render_template(
            "imports/export_requests.html", title=_l("Export requests"),
            mine=requests_.requests_of(user), to_decide=requests_.pending_for(user),
            status_label=requests_.status_label, expires_at=requests_.expires_at,
            entity_label=entity_label,
            may_download=lambda entry: not requests_.download_errors(user, entry))

    @expose("/ask", methods=["GET", "POST"])
    @has_access
    def ask(self):
        """The request form for the list named by ``view`` (its endpoint) with the filters in the query."""
        user = current_user()
        fmt = request.args.get("fmt", "")
        view = requests_.list_view(request.args.get("view", ""))
        if view is None or fmt not in FORMATS or not requests_.may_export(user, view):
            abort(404)
        get_filter_args(view._filters)
        joined = view.list_filters(view._filters).get_joined_filters(view._base_filters)
        count = requests_.exact_count(view, joined)
        args = requests_.filter_args(request.args)
        if count <= export_limit():  # small enough now: the ordinary export
            return redirect(url_for(f"{view.endpoint}.export", fmt=fmt, **args))
        if request.method == "POST":
            try:
                requests_.create(user, view, fmt, args, count, request.form.get("reason", ""))
            except requests_.ExportRefused as refused:
                db.session.rollback()
                for message in refused.errors.values():
                    flash(str(message), "danger")
            else:
                flash(gettext("Your export request was sent for approval."), "info")
                return redirect(url_for(".index"))
        return self.render_template(
            "imports/export_ask.html", title=_l("Request an export"), count=count,
            limit=export_limit(), fmt=fmt, list_label=view.list_title or view.endpoint,
            back=url_for(f"{view.endpoint}.list", **args))

    @expose("/decide/<int:pk>/<string:decision>", methods=["POST"])
    @has_access
    def decide(self, pk, decision):
        entry = db.session.get(ExportRequest, pk)
        user = current_user()
        if entry is None or decision not in ("approve", "reject") or not (
                requests_.may_decide(user, entry)):
            abort(404)
        try:
            requests_.decide(user, entry, approve=decision == "approve")
        except requests_.ExportRefused as refused:
            db.session.rollback()
            for message in refused.errors.values():
                flash(str(message), "danger")
        return redirect(url_for(".index"))

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        """The requester's one download: the list's own export, with the approval's number."""
        entry = db.session.get(ExportRequest, pk)
        errors = requests_.download_errors(current_user(), entry)
        if entry is None or entry.requested_by_id != getattr(current_user(), "id", None):
            abort(404)
        if errors:
            for message in errors.values():
                flash(str(message), "warning")
            return redirect(url_for(".index"))
        return redirect(requests_.download_url(entry))
