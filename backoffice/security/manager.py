"""The back office's security manager: staff users with a branch and an employee number."""
from __future__ import annotations

import functools

from flask import current_app, flash, redirect, request
from flask_appbuilder.actions import action
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import AuthDBView, UserDBModelView
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash

from backoffice.security.user_stats import UserStatsChartView
from models import Staff

_STAFF_COLUMNS = ["employee_no", "branch", "security_training_on"]
# Login policy columns: shown to admins and auditors, never editable in a form (the user accepts
# the agreement themself; locks are set by failed logins and cleared by the "unlock" action).
_LOGIN_POLICY_COLUMNS = ["confidentiality_accepted_at", "locked_until", "password_changed_at"]


def _local_time(value):
    from backoffice.formatting import local_time

    return local_time(value)


def _accepted_at(value):
    """When the agreement was accepted, or a plain "not yet" (auditors scan for those)."""
    return _local_time(value) if value is not None else gettext("Not yet accepted")


def _training_date(value):
    return value.isoformat() if value is not None else gettext("Not recorded")


class StaffUserView(UserDBModelView):
    """FAB's user screen with the staff columns the record scopes depend on."""

    label_columns = {
        **UserDBModelView.label_columns,
        "employee_no": _l("Employee number"),
        "branch": _l("Branch"),
        "security_training_on": _l("Security training date"),
        "confidentiality_accepted_at": _l("Confidentiality agreement accepted"),
        "locked_until": _l("Locked until"),
        "password_changed_at": _l("Password changed"),
    }
    list_columns = ["username", "last_name", "first_name", "employee_no", "branch", "roles",
                    "active", "security_training_on", "confidentiality_accepted_at"]
    formatters_columns = {
        "confidentiality_accepted_at": _accepted_at,
        "security_training_on": _training_date,
        "locked_until": _local_time,
        "password_changed_at": _local_time,
    }
    add_columns = UserDBModelView.add_columns + _STAFF_COLUMNS
    edit_columns = UserDBModelView.edit_columns + _STAFF_COLUMNS
    show_fieldsets = UserDBModelView.show_fieldsets + [
        (_l("Staff"), {"fields": _STAFF_COLUMNS, "expanded": True}),
        (_l("Login and confidentiality"), {"fields": _LOGIN_POLICY_COLUMNS, "expanded": True}),
    ]

    def pre_add(self, item):
        super().pre_add(item)
        from models.base import utcnow

        item.password_changed_at = utcnow()

    @action("unlock", _l("Unlock"), _l("Unlock the selected accounts now?"), "fa-unlock",
            multiple=True)
    def unlock(self, items):
        """Lift a lockout before it runs out (e.g. after the user called the help desk)."""
        from backoffice.security import login_policy
        from backoffice.views_base import selected_items

        items = selected_items(items)
        for user in items:
            login_policy.unlock(user)
        self.datamodel.session.commit()
        for user in items:
            login_policy.audit("user_unlocked", user=user, detail={"username": user.username})
        flash(gettext("Accounts unlocked: %(count)d", count=len(items)), "info")
        return redirect(request.referrer or self.get_redirect())


class CrmAuthDBView(AuthDBView):
    """FAB's login form; the refusal message also covers a locked account, without saying which."""

    invalid_login_message = _l(
        "Invalid login, or the account is locked for a while after too many failed attempts. "
        "Please try again later.")


class CrmSecurityManager(SecurityManager):
    """Uses :class:`models.Staff` as FAB's user model."""

    user_model = Staff
    userdbmodelview = StaffUserView
    authdbview = CrmAuthDBView
    # FAB's own draws with Google Charts from the internet: ours draws with the app's Plotly.
    userstatschartview = UserStatsChartView

    def get_user_by_id(self, pk):
        """The signed-in user with its roles and groups in the same query.

        Flask-Login loads the user on every request and the first permission check reads
        ``user.roles`` and ``user.groups``: as lazy loads those were two more statements per
        page. The row is read afresh even when the ORM session holds the user already
        (``populate_existing``): the session check (``sessions.revocation_reason``) compares
        this load's ``session_epoch`` with the cookie's, and a raise made by another process
        must count at once.
        """
        return self.session.execute(self._user_statement, {"crm_user_id": int(pk)}
                                    ).unique().scalar_one_or_none()

    @functools.cached_property
    def _user_statement(self):
        """The load of :meth:`get_user_by_id`, built once: built per request, its loader
        options and their cache key cost more CPU than the query itself."""
        from sqlalchemy import bindparam, select
        from sqlalchemy.orm import joinedload

        model = self.user_model
        return (select(model).where(model.id == bindparam("crm_user_id"))
                .options(joinedload(model.roles), joinedload(model.groups))
                .execution_options(populate_existing=True))

    def load_user(self, pk):
        """The request's user (Flask-Login's loader; the JWT's goes through here too), with
        what rooms read alongside it (``user_load``) in the same statement; None for an
        unknown or deactivated user."""
        from backoffice.security import user_load

        columns = user_load.registered()
        statement, names = self._request_user_statement(columns)
        rows = self.session.execute(statement, {"crm_user_id": int(pk)}).unique().all()
        if not rows:
            return None
        user, *values = rows[0]
        user_load.remember(user.id, dict(zip(names, values)))
        return user if user.is_active else None

    def _request_user_statement(self, columns) -> tuple:
        """:meth:`load_user`'s statement, built once per set of registered columns."""
        built = self.__dict__.get("_crm_request_user")
        if built is not None and built[0] == columns:
            return built[1]
        dialect = self.session.get_bind().dialect.name
        model = self.user_model
        extra = [(name, build(model.id, dialect)) for name, build in columns]
        extra = [(name, column) for name, column in extra if column is not None]
        statement = self._user_statement.add_columns(
            *(column.label(f"crm_{name}") for name, column in extra))
        result = (statement, tuple(name for name, _column in extra))
        self.__dict__["_crm_request_user"] = (columns, result)
        return result

    def _has_view_access(self, user, permission_name, view_name) -> bool:
        """Answer from the user's permissions, read once per request (issue 9, scale).

        FAB asks the database once per check, and a page's menu and buttons check ~25 times:
        that was most of a list page's queries. The set is kept on ``g`` for this user only.
        """
        from flask import g, has_request_context

        if not has_request_context() or getattr(user, "id", None) is None:
            return super()._has_view_access(user, permission_name, view_name)
        cached = g.get("_crm_permissions")
        if cached is None or cached[0] != user.id:
            cached = (user.id, self.permission_pairs(user))
            g._crm_permissions = cached
        return (permission_name, view_name) in cached[1]

    def permission_pairs(self, user) -> frozenset:
        """The user's (permission, view) names, as ``get_user_permissions`` gives them, in one
        Core query of name pairs for all the user's roles (FAB builds a PermissionView object,
        with its permission and view, per row and per role: ~400 objects per page)."""
        roles = self.get_user_roles(user)
        pairs = set()
        db_role_ids = []
        for role in roles:
            if role.name in self.builtin_roles:
                pairs.update((perm[1], perm[0]) for perm in self.builtin_roles[role.name])
            else:
                db_role_ids.append(role.id)
        if db_role_ids:
            # The roles' grants, kept per process while FAB's grant tables are unchanged (their
            # triggers bump a counter: backoffice.config_cache); a user's roles are read anew.
            from backoffice import config_cache
            from models.config_version import PERMISSION_TABLES

            key = tuple(sorted(db_role_ids))
            pairs.update(config_cache.cached("permission_pairs", PERMISSION_TABLES,
                                             lambda: self._role_pairs(key), key=key))
        return frozenset(pairs)

    def _role_pairs(self, role_ids) -> frozenset:
        from flask_appbuilder.security.sqla.models import (
            Permission,
            PermissionView,
            ViewMenu,
            assoc_permissionview_role,
        )
        from sqlalchemy import select

        pairs = set()
        if role_ids:
            link = assoc_permissionview_role
            db_role_ids = list(role_ids)
            pairs.update((permission, view) for permission, view in self.session.execute(
                select(Permission.name, ViewMenu.name)
                .select_from(PermissionView)
                .join(Permission, Permission.id == PermissionView.permission_id)
                .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)
                .join(link, link.c.permission_view_id == PermissionView.id)
                .where(link.c.role_id.in_(db_role_ids))))
        return frozenset(pairs)

    def auth_user_db(self, username, password):
        """FAB's password check plus the lockout of ``backoffice.security.login_policy``.

        Both the login form and ``POST /api/v1/security/login`` come through here. A locked
        account is refused whatever the password, after a hash check of the same cost, so the
        answer and its timing say nothing about whether the password was right.
        """
        from backoffice.security import login_policy
        from models.base import utcnow

        if not username:
            return None
        now = utcnow()
        user = self.find_user(username=username) or self.find_user(email=username)
        known = user is not None and user.is_active
        if known and login_policy.expire_lock(user, now):
            self.session.commit()
        if known and login_policy.is_locked(user, now):
            check_password_hash(current_app.config["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"],
                                "password")
            login_policy.audit("login_failed", actor=username, user=user,
                               detail={"username": username, "reason": "locked"})
            return None
        authenticated = super().auth_user_db(username, password)
        if authenticated:
            return authenticated
        if not known:
            login_policy.audit("login_failed", actor=username,
                               detail={"username": username, "reason": "unknown or inactive"})
            return None
        login_policy.audit("login_failed", actor=username, user=user,
                           detail={"username": username, "reason": "wrong password",
                                   "failures": user.fail_login_count})
        if login_policy.after_failure(user, now):
            self.session.commit()
            login_policy.audit("lockout", actor=username, user=user, detail={
                "username": username, "failures": user.fail_login_count,
                "locked_until": user.locked_until.isoformat(timespec="seconds")})
        return None

    def update_user_auth_stat(self, user, success=True):
        """FAB's login statistics, with failures counted in one atomic UPDATE.

        FAB reads the count, adds one and writes it back: parallel wrong guesses from several
        processes would then count once, and a guesser could get far more than five tries.
        """
        if success:
            return super().update_user_auth_stat(user, success)
        from sqlalchemy import func, update

        model = self.user_model
        self.session.execute(
            update(model).where(model.id == user.id)
            .values(fail_login_count=func.coalesce(model.fail_login_count, 0) + 1)
        )
        self.session.commit()
        self.on_user_login_failed(user)
        return None

    def add_user(self, username, first_name, last_name, email, role=None, password="",
                 hashed_password="", groups=None, commit=True):
        """FAB's ``add_user`` (also behind its CLI) under the password policy."""
        from backoffice.security.passwords import check_password
        from models.base import utcnow

        if password and not hashed_password:
            check_password(password, (username,))
        user = super().add_user(username, first_name, last_name, email, role=role,
                                password=password, hashed_password=hashed_password,
                                groups=groups, commit=commit)
        if user and (password or hashed_password):
            user.password_changed_at = utcnow()
            if commit:
                self.session.commit()
        return user

    def reset_password(self, userid, password):
        """FAB's password reset (forms and CLI) under the password policy; records when.

        The new password ends the user's other sessions and API tokens (``models.org`` raises
        the session epoch in the same UPDATE); the session a user changed their own password
        in stays signed in.
        """
        from flask import has_request_context

        from backoffice.security import sessions
        from backoffice.security.passwords import check_password
        from models.base import utcnow

        check_password(password)
        user = self.get_user_by_id(userid)
        user.password_changed_at = utcnow()
        super().reset_password(userid, password)
        if has_request_context():
            sessions.restamp(user.id)

    def create_jwt_manager(self, app):
        """FAB's JWT manager, with tokens stamped with the user's session epoch and refused once
        it has moved on (logout, lockout, deactivation, new password: ``sessions``)."""
        from backoffice.security import sessions

        jwt_manager = super().create_jwt_manager(app)
        jwt_manager.additional_claims_loader(sessions.token_claims)
        jwt_manager.token_in_blocklist_loader(sessions.token_revoked)
        return jwt_manager

    def on_user_logout(self, user) -> None:
        """Logout ends the session on the server too: a copy of the cookie (or a token) kept
        from before no longer signs anybody in."""
        from backoffice.security import sessions

        super().on_user_logout(user)
        if getattr(user, "id", None) is not None:
            sessions.revoke_sessions(user.id)

    @property
    def current_user(self):
        """FAB's current user, without raising when a request carries no JWT."""
        try:
            return super().current_user
        except RuntimeError:
            return None
