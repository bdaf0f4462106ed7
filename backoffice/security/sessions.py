"""Screen sessions: idle and absolute expiry, cookie flags, and CSRF on cookie-authenticated APIs.

Why server-side timestamps: Flask's session is a signed cookie that lives as long as the browser
keeps it, so expiry cannot rest on the cookie's own lifetime. At login the session gets the login
time and a last-seen time (signed with the session, so a client cannot move them); every request
checks them before any view runs:

* more than ``CRM_SESSION_IDLE_MINUTES`` (30) since the last request, or
* more than ``CRM_SESSION_ABSOLUTE_HOURS`` (12) since login, however active,

signs the user out (``session_expired`` in the operation log) and sends a screen to the login
form with a message, an API call to a 401. A session without the timestamps (made before this
rule existed) counts as expired. API access tokens (JWT) expire after
``JWT_ACCESS_TOKEN_EXPIRES`` (15 minutes) and refresh tokens within the absolute limit.

Why CSRF here: FAB exempts its REST APIs from CSRF (``BaseApi.csrf_exempt``, DESIGN pitfall 6),
but the back office's APIs also accept the screen's session cookie (``allow_browser_login``), so a
cross-site form could call them with the victim's cookie. A state-changing API request that is
authenticated by the session cookie must carry the CSRF token (``X-CSRFToken`` header or
``csrf_token`` field). Only a request that also carries a *valid* API token of the same user
is let through without it: the header alone proves nothing (``Bearer x`` is not a login), and
a valid token of another user would still leave the cookie's user acting (FAB prefers the
cookie), so it must not waive the check either.

Why an epoch (revocation): a signed cookie or JWT stays valid until it expires whatever
happens on the server. Each member of staff has a counter, ``session_epoch`` (a column, so
every process and machine reads the same value); it is stamped into the session at login and
into every API token (``crm_epoch`` claim) and compared on every request. Logout, a lockout, a
deactivation and a password change (own or reset by an admin; ``models.org``) raise it, which
ends every session and token issued before, on every device: replaying an old cookie or token
then signs nobody in. A user who changes their own password keeps the session they did it in
(it is re-stamped), and loses every other one.
"""
from __future__ import annotations

import datetime as dt
import time

from flask import (
    Flask,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)

LOGIN_AT = "crm_login_at"
SEEN_AT = "crm_seen_at"
EPOCH = "crm_epoch"
EPOCH_CLAIM = "crm_epoch"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
STATIC_ENDPOINTS = frozenset({"static", "appbuilder.static"})
# How often a request moves the last-seen time on. The session is a signed cookie, so each
# move re-signs it and sends it back with the response; moved at most this often, the idle
# limit ends a session up to this many seconds early, never late.
SEEN_STEP_SECONDS = 30


def install(app: Flask) -> None:
    """Cookie settings, the login stamp and the per-request checks (expiry first, then CSRF)."""
    from flask_login import user_logged_in
    from flask_wtf.csrf import CSRFError

    apply_cookie_settings(app)
    user_logged_in.connect(stamp_login, app)
    app.before_request(expire_session)
    app.before_request(protect_cookie_api)
    app.register_error_handler(CSRFError, _csrf_error)


def apply_cookie_settings(app: Flask) -> None:
    """``CRM_SECURE_COOKIES`` (environment) decides Secure for both cookies when it is set."""
    secure = app.config.get("CRM_SECURE_COOKIES")
    if secure is not None:
        if isinstance(secure, str):
            secure = secure.strip().lower() in {"1", "true", "yes", "on"}
        app.config["SESSION_COOKIE_SECURE"] = bool(secure)
        app.config["REMEMBER_COOKIE_SECURE"] = bool(secure)
    absolute = dt.timedelta(hours=float(app.config["CRM_SESSION_ABSOLUTE_HOURS"]))
    for key in ("JWT_REFRESH_TOKEN_EXPIRES", "REMEMBER_COOKIE_DURATION"):
        value = app.config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = dt.timedelta(seconds=value)
        if not isinstance(value, dt.timedelta) or value > absolute:
            app.config[key] = absolute
        else:
            app.config[key] = value


def stamp_login(_sender, user=None, **_extra) -> None:
    """On every login: the session's clock starts now."""
    now = time.time()
    session[LOGIN_AT] = now
    session[SEEN_AT] = now
    session[EPOCH] = current_epoch(getattr(user, "id", None))


def cookie_authenticated() -> bool:
    """The request is signed in through the session cookie (Flask-Login's user id in it)."""
    return "_user_id" in session


def current_epoch(user_id) -> int | None:
    """The user's session epoch as stored now (None for no such user), read past any copy the
    request's ORM session holds, so a raise made by another process counts at once."""
    if user_id is None:
        return None
    from sqlalchemy import select

    from backoffice.extensions import db
    from models import Staff

    try:
        return db.session.execute(
            select(Staff.session_epoch).where(Staff.id == int(user_id))).scalar()
    except (TypeError, ValueError):
        return None


def revoke_sessions(user_id) -> None:
    """End every session and API token of the user issued so far (logout); commits."""
    from sqlalchemy import update

    from backoffice.extensions import db
    from models import Staff

    db.session.execute(update(Staff).where(Staff.id == int(user_id))
                       .values(session_epoch=Staff.session_epoch + 1))
    db.session.commit()


def restamp(user_id) -> None:
    """Keep this session alive across a revocation its own user just made (own password)."""
    if cookie_authenticated() and str(session.get("_user_id")) == str(user_id):
        session[EPOCH] = current_epoch(user_id)


def token_claims(identity) -> dict:
    """Claims stamped into every API token FAB makes (``additional_claims_loader``)."""
    return {EPOCH_CLAIM: current_epoch(identity)}


def token_revoked(_jwt_header, jwt_data: dict) -> bool:
    """``token_in_blocklist_loader``: a token is revoked unless its epoch is the user's now.

    A token without the claim (made before revocation existed), of an unknown user or of an
    inactive one is revoked too.
    """
    stamped = jwt_data.get(EPOCH_CLAIM)
    if not isinstance(stamped, int) or isinstance(stamped, bool):
        return True
    from backoffice.extensions import db
    from models import Staff

    try:
        user = db.session.get(Staff, int(jwt_data.get("sub")))
    except (TypeError, ValueError):
        return True
    if user is None or not user.is_active:
        return True
    return current_epoch(user.id) != stamped


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def bearer_user_id() -> str | None:
    """The user id of a valid, unrevoked access token on the request, else None.

    Decoded without FAB's user loader (which would make the token's user the request's user).
    """
    token = bearer_token()
    if token is None:
        return None
    from flask_jwt_extended import decode_token

    try:
        data = decode_token(token)
    except Exception:  # noqa: BLE001 - malformed, forged, expired: simply not a valid token
        return None
    if data.get("type") != "access" or token_revoked(None, data):
        return None
    return str(data.get("sub"))


def bearer_authenticated() -> bool:
    """A valid access token of the user the session cookie signs in (see the module text)."""
    user_id = bearer_user_id()
    return user_id is not None and user_id == str(session.get("_user_id"))


def expiry_reason(now: float | None = None) -> str | None:
    """``"idle"``, ``"absolute"`` or ``"unknown"`` if the session is over, else None."""
    now = time.time() if now is None else now
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if not isinstance(login_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return "unknown"
    config = current_app.config
    if now - login_at > float(config["CRM_SESSION_ABSOLUTE_HOURS"]) * 3600:
        return "absolute"
    if now - seen_at > float(config["CRM_SESSION_IDLE_MINUTES"]) * 60:
        return "idle"
    return None


def revocation_reason() -> str | None:
    """``"revoked"`` if the user's epoch moved on since this session was stamped."""
    stamped = session.get(EPOCH, 0)  # a session made before the epoch existed read as 0
    if _signed_in_epoch() != stamped:
        return "revoked"
    return None


def _signed_in_epoch() -> int | None:
    """The epoch of the session's user as this request loaded it (None: no such active user).

    Flask-Login loads the user on every signed-in request anyway, and that load reads the
    row afresh (``CrmSecurityManager.get_user_by_id``), so its ``session_epoch`` is as current
    as a query of its own would be: a raise made by another process counts at once, and a
    page costs one statement fewer.
    """
    from flask_login import current_user

    user = current_user._get_current_object()
    if not getattr(user, "is_authenticated", False) \
            or str(getattr(user, "id", "")) != str(session.get("_user_id")):
        return None
    return user.session_epoch


def _ended_message(reason: str) -> str:
    from flask_babel import gettext

    if reason == "absolute":
        return gettext("Your session has ended after %(hours)s hours. Please sign in again.",
                       hours=current_app.config["CRM_SESSION_ABSOLUTE_HOURS"])
    if reason == "revoked":
        return gettext("Your session has ended (you signed out, your password was changed or "
                       "your account was locked or deactivated). Please sign in again.")
    return gettext("You were signed out after %(minutes)s minutes without activity. "
                   "Please sign in again.",
                   minutes=current_app.config["CRM_SESSION_IDLE_MINUTES"])


def expire_session():
    """before_request: sign out an expired session; otherwise note this request as activity."""
    if request.endpoint in STATIC_ENDPOINTS or not cookie_authenticated():
        return None
    reason = expiry_reason() or revocation_reason()
    if reason is None:
        now = time.time()
        if now - session.get(SEEN_AT, 0) >= SEEN_STEP_SECONDS:
            session[SEEN_AT] = now
        return None
    from flask_login import current_user, logout_user

    from backoffice.security.login_policy import audit

    user = current_user._get_current_object() if current_user.is_authenticated else None
    if user is not None:
        audit("session_expired", actor=user, user=user, detail={"reason": reason})
    logout_user()
    for key in (LOGIN_AT, SEEN_AT, EPOCH):
        session.pop(key, None)
    message = _ended_message(reason)
    if request.path.startswith("/api/"):
        response = jsonify(message=message)
        response.status_code = 401
        return response
    flash(message, "warning")
    if (request.endpoint or "").split(".")[0] == current_app.appbuilder.sm.auth_view.endpoint:
        return None  # on the way to the login form (or out) anyway: let it answer
    login = url_for(current_app.appbuilder.sm.auth_view.endpoint + ".login")
    if request.method == "GET":
        from urllib.parse import urlencode

        login = f"{login}?{urlencode({'next': request.full_path.rstrip('?')})}"
    return redirect(login)


def protect_cookie_api():
    """before_request: CSRF on state-changing API calls that ride on the session cookie."""
    if (not request.path.startswith("/api/") or request.method in SAFE_METHODS
            or not current_app.config.get("WTF_CSRF_ENABLED", True)
            or bearer_authenticated() or not cookie_authenticated()):
        return
    from backoffice.extensions import csrf

    csrf.protect()
    return


def _csrf_error(error):
    """A missing or wrong CSRF token: JSON for the API, Flask's 400 page for screens."""
    if request.path.startswith("/api/"):
        response = jsonify(message=f"CSRF: {error.description}")
        response.status_code = 400
        return response
    return error.get_response()
