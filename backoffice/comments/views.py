"""``/comments/``: posting, editing and deleting comments, and the names offered after ``@``.

The thread itself is drawn by the page of its record (``backoffice.comments.thread``); these
routes only take the forms' posts and return to that page. A record the user may not read is a
404 here as everywhere; a refusal they may know about (someone else's comment, the edit window
passed, an empty text) is a message on the record's page.
"""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from sqlalchemy import func, or_, select

from backoffice.comments import mentions, places, service
from backoffice.extensions import db
from backoffice.security.current import current_user, not_found_if_denied

SUGGESTIONS = 8  # names offered at a time
QUERY_MAX = 20  # characters of a name typed after ``@`` that are looked up


class CommentsView(BaseView):
    route_base = "/comments"
    class_permission_name = "Comment"
    method_permission_name = {"add": "write", "edit": "write", "delete": "write",
                              "staff": "write"}
    default_view = "staff"

    @expose("/add/<string:place>/<int:entity_id>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def add(self, place, entity_id):
        user = current_user()
        try:
            outcome = service.add(user, place, entity_id, request.form.get("body"),
                                  request.form.getlist("mention_ids"))
        except service.NotVisible:
            abort(404)
        except service.CommentRefused as refused:
            db.session.rollback()
            flash(str(refused.message), "danger")
            return redirect(places.get(place).url(entity_id))
        flash(gettext("Your comment was posted."), "success")
        _report(outcome)
        return redirect(places.get(place).url(entity_id))

    @expose("/edit/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def edit(self, pk):
        return self._change(pk, lambda user: service.edit(
            user, pk, request.form.get("body"), request.form.getlist("mention_ids")))

    @expose("/delete/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def delete(self, pk):
        return self._change(pk, lambda user: service.delete(user, pk))

    def _change(self, pk, change):
        user = current_user()
        try:
            result = change(user)
        except service.NotVisible:
            abort(404)
        except service.CommentRefused as refused:
            db.session.rollback()
            flash(str(refused.message), "danger")
            return redirect(_page_of(pk))
        if isinstance(result, service.Outcome):
            flash(gettext("Your comment was changed."), "success")
            _report(result)
        else:
            flash(gettext("Your comment was deleted."), "info")
        return redirect(_page_of(pk))

    @expose("/staff", methods=["GET"])
    @has_access
    def staff(self):
        """Active colleagues whose login name or name starts with ``q``: id, name and login
        name only (no customer data, no contact details)."""
        from models import Staff

        typed = (request.args.get("q") or "").strip().lower()[:QUERY_MAX]
        if not typed:
            return jsonify({"staff": []})
        pattern = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        last = func.coalesce(Staff.last_name, "")
        first = func.coalesce(Staff.first_name, "")
        matches = [func.lower(column).like(pattern, escape="\\") for column in (
            Staff.username, Staff.first_name, Staff.last_name, last + first, last + " " + first,
            first + " " + last)]
        rows = db.session.scalars(select(Staff).where(Staff.active.is_(True), or_(*matches))
                                  .order_by(Staff.username).limit(SUGGESTIONS)).all()
        response = jsonify({"staff": [{"id": s.id, "name": mentions.staff_name(s),
                                       "username": s.username} for s in rows]})
        response.headers["Cache-Control"] = "no-store"
        return response


def _page_of(comment_id) -> str:
    """The page of the comment's record (reached only after the record was found readable)."""
    from models.comments import Comment

    comment = db.session.scalars(select(Comment).where(Comment.id == comment_id),
                                 execution_options={"crm_unscoped": True}).one()
    return places.get(comment.entity).url(comment.entity_id)


def _report(outcome: service.Outcome) -> None:
    """Tell the author what became of their mentions."""
    for name in outcome.hidden:
        flash(gettext("%(name)s cannot see this record: they were told only that you mentioned "
                      "them, not what you wrote.", name=name), "warning")
    for name in outcome.ambiguous:
        flash(gettext("Several colleagues are called %(name)s: pick one from the suggestions "
                      "to mention them.", name=name), "warning")
