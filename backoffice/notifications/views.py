"""The bell, "My notifications" and the digest setting: every member of staff's own notices.

Rows are always the signed-in user's own (``recipient_id``): another user's notification
answers 404 like any record the user may not see. What a row may say is decided per display
by ``privacy``.
"""
from __future__ import annotations

import logging

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from backoffice.extensions import db
from backoffice.notifications import kinds, preferences, privacy
from backoffice.security import user_load
from backoffice.security.current import current_user, not_found_if_denied
from models.base import utcnow
from models.notifications import Notification

log = logging.getLogger(__name__)
PAGE_SIZE = 50
BELL_CAP = 99  # the bell counts up to here and shows "99+" beyond: a bounded query


def _unread(recipient):
    """The recipient's unread notifications counted up to ``BELL_CAP + 1`` (a bounded query).

    ``recipient``: a bound parameter, or the user row's id column when the count rides with
    the request's user load (correlated to that row: a subquery in FROM would not be)."""
    return select(func.count()).select_from(
        select(Notification.id)
        .where(Notification.recipient_id == recipient, Notification.read_at.is_(None))
        .correlate_except(Notification)
        .limit(BELL_CAP + 1).subquery())


# Built once: every page without a user load asks it, and building the statement and its
# cache key anew each time cost about as much as running it.
_UNREAD = _unread(bindparam("recipient"))


def _unread_column(user_id, dialect: str):
    """The bell's count as a column of the request's user load (``user_load``): the count as
    the request began, without a round trip of its own."""
    return _unread(user_id).scalar_subquery()


user_load.read_with_user("unread_notifications", _unread_column)


def unread_count() -> int:
    """The signed-in user's unread notifications, up to ``BELL_CAP + 1`` (the navigation
    bar's bell): read with the user when the request loaded it, else one indexed query, once
    per request."""
    if "_crm_unread" in g:
        return g._crm_unread
    user = current_user()
    count = 0
    loaded = user_load.loaded("unread_notifications", getattr(user, "id", None)) \
        if user is not None else user_load.MISSING
    if loaded is not user_load.MISSING:
        count = loaded or 0
    elif user is not None:
        try:
            count = db.session.scalar(_UNREAD, {"recipient": user.id}) or 0
        except SQLAlchemyError:  # an error page after a failed transaction: no bell count
            log.warning("unread notifications not counted", exc_info=True)
            return 0
    g._crm_unread = count
    return count


def bell_text(count: int) -> str:
    return f"{BELL_CAP}+" if count > BELL_CAP else str(count)


class NotificationsView(BaseView):
    """``/notifications/``: the list, opening one, marking all read, the digest setting."""

    route_base = "/notifications"
    class_permission_name = "Notification"
    method_permission_name = {"index": "read", "open": "read", "read_all": "read",
                              "settings": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        user = current_user()
        kind = request.args.get("kind") or None
        if kind is not None and not kinds.known(kind):
            kind = None
        before = request.args.get("before", type=int)
        query = select(Notification).where(Notification.recipient_id == user.id)
        if kind:
            query = query.where(Notification.kind == kind)
        if before:
            query = query.where(Notification.id < before)
        items = db.session.scalars(
            query.order_by(Notification.id.desc()).limit(PAGE_SIZE + 1)).all()
        more = len(items) > PAGE_SIZE
        items = items[:PAGE_SIZE]
        return self.render_template(
            "notifications/list.html", title=_l("My notifications"),
            rows=privacy.shown(db.session, items), kinds=kinds.choices(), kind=kind,
            next_before=items[-1].id if more else None, unread=unread_count())

    @expose("/open/<int:pk>")
    @not_found_if_denied
    @has_access
    def open(self, pk):
        """Mark read and go to what it is about (or back to the list, when withheld)."""
        user = current_user()
        item = db.session.scalar(select(Notification).where(
            Notification.id == pk, Notification.recipient_id == user.id))
        if item is None:
            abort(404)
        if item.read_at is None:
            item.read_at = utcnow()
            db.session.commit()
        [row] = privacy.shown(db.session, [item])
        return redirect(row.link or url_for("NotificationsView.index"))

    @expose("/read-all", methods=["POST"])
    @has_access
    def read_all(self):
        user = current_user()
        query = update(Notification).where(Notification.recipient_id == user.id,
                                           Notification.read_at.is_(None))
        kind = request.form.get("kind") or None
        if kind and kinds.known(kind):
            query = query.where(Notification.kind == kind)
        db.session.execute(query.values(read_at=utcnow()),
                           execution_options={"synchronize_session": False})
        db.session.commit()
        flash(_l("All notifications marked as read."), "info")
        return redirect(url_for("NotificationsView.index", kind=kind) if kind and kinds.known(kind)
                        else url_for("NotificationsView.index"))

    @expose("/settings", methods=["GET", "POST"])
    @has_access
    def settings(self):
        user = current_user()
        errors = {}
        if request.method == "POST":
            errors = preferences.save(db.session, user.id, request.form.get("digest"),
                                      request.form.get("digest_time"))
            if not errors:
                db.session.commit()
                flash(_l("Your digest setting was saved."), "success")
                return redirect(url_for("NotificationsView.settings"))
            db.session.rollback()
        current = preferences.of(db.session, user.id)
        return self.render_template(
            "notifications/settings.html", title=_l("Notification settings"),
            choices=preferences.choices(), current=current, errors=errors,
            default_time=preferences.DEFAULT_TIME.strftime("%H:%M"),
            shown_time=(current.digest_time or preferences.DEFAULT_TIME).strftime("%H:%M"),
            has_email=bool(getattr(user, "email", None)))


def register(appbuilder) -> None:
    from backoffice.notifications import sources

    appbuilder.add_view_no_menu(NotificationsView)
    app = current_app._get_current_object()  # registered inside the factory's app context
    app.jinja_env.globals["crm_unread_notifications"] = unread_count
    app.jinja_env.globals["crm_bell_text"] = bell_text
    sources.install(db.session)
    from backoffice.cli import crm
    from backoffice.notifications.cli import notifications_group

    crm.add_command(notifications_group)  # `flask crm notifications digest`


__all__ = ["NotificationsView", "register", "unread_count"]
