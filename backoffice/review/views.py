"""Reviewer and maker screens: pending requests, a request's diff with approve/reject, my
requests with withdraw.

Every decision goes through ``backoffice.review.service`` (the same rules as the API); the
screens only turn refusals into messages. A request the user may not see, or a record route the
user has no right to, answers 404 like every other customer-data record.
"""
from __future__ import annotations


from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from backoffice.security.current import not_found_if_denied
from backoffice.review import service
from backoffice.review.diff import diff_rows, field_labels

KIND_LABELS = {"create": _l("New customer"), "update": _l("Change")}
STATUS_LABELS = {"pending": lazy_pgettext("change request status", "Pending"), "approved": _l("Approved"),
                 "rejected": _l("Rejected"), "withdrawn": _l("Withdrawn")}
METHOD_PERMISSIONS = {"pending": "approve", "approve": "approve", "reject": "approve",
                      "mine": "propose", "withdraw": "propose", "show": "read"}


class ReviewView(BaseView):
    """``/review/``: the reviewer's queue and the maker's own requests."""

    route_base = "/review"
    class_permission_name = "ChangeRequest"
    method_permission_name = METHOD_PERMISSIONS
    default_view = "pending"

    @expose("/pending/")
    @has_access
    def pending(self):
        user = service.current_user()
        return self._list(service.pending_for(user), _l("Pending reviews"), mine=False)

    @expose("/mine/")
    @has_access
    def mine(self):
        user = service.current_user()
        return self._list(service.requests_of(user), _l("My change requests"), mine=True)

    @expose("/show/<int:pk>")
    @not_found_if_denied
    @has_access
    def show(self, pk):
        user = service.current_user()
        change = self._visible(user, pk)
        live = service.visible_customer(user, change.customer_id)
        pending = change.status == "pending"
        return self.render_template(
            "review/show.html", title=_l("Change request %(id)s", id=change.id),
            change=change, rows=diff_rows(change, user, live), live=live,
            stale=service.is_stale(change) if pending else False,
            may_decide=pending and change.maker_id != user.id and service.may_approve(user),
            may_withdraw=pending and change.maker_id == user.id,
            kind_labels=KIND_LABELS, status_labels=STATUS_LABELS,
            subject=_subject(change, live))

    @expose("/approve/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def approve(self, pk):
        return self._decide(pk, lambda user: service.approve(user, pk),
                            _l("Request %(id)s approved and applied."), "success", "pending")

    @expose("/reject/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def reject(self, pk):
        reason = request.form.get("reason", "")
        return self._decide(pk, lambda user: service.reject(user, pk, reason),
                            _l("Request %(id)s rejected."), "info", "pending")

    @expose("/withdraw/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def withdraw(self, pk):
        return self._decide(pk, lambda user: service.withdraw(user, pk),
                            _l("Request %(id)s withdrawn."), "info", "mine")

    def _decide(self, pk, decision, message, category, next_page):
        """Run one decision of the service; unseen requests are 404, refusals explained."""
        try:
            change = decision(service.current_user())
        except service.NotVisible:
            abort(404)
        except service.ReviewRefused as refused:
            return self._refused(refused, pk)
        flash(str(message) % {"id": change.id}, category)  # translated, then filled in
        return redirect(url_for(f"ReviewView.{next_page}"))

    # --- helpers ---------------------------------------------------------------------------

    def _visible(self, user, pk):
        try:
            return service.get_request(user, pk)
        except service.NotVisible:
            abort(404)

    def _refused(self, refused, pk):
        for message in refused.errors.values():
            flash(message, "danger")
        return redirect(url_for("ReviewView.show", pk=pk))

    def _list(self, changes, title, mine):
        user = service.current_user()
        rows = []
        for change in changes:
            live = change.customer if change.customer_id is not None else None
            rows.append({
                "change": change,
                "subject": _subject(change, live),
                "fields": ", ".join(field_labels(change, user)),
                "stale": service.is_stale(change),
            })
        return self.render_template("review/list.html", title=title, rows=rows, mine=mine,
                                    kind_labels=KIND_LABELS, status_labels=STATUS_LABELS)


def _subject(change, live) -> str:
    """Who the request is about: the live customer, or the proposed name of a new one."""
    if live is not None:
        return f"{live.customer_no} {live.name}"
    if change.kind == "create":
        return change.values.get("name") or ""
    return "—"

