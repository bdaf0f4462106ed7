"""One-time set-password links for staff created by a staff import.

Why links and not passwords: a spreadsheet of passwords would sit in mailboxes and shared folders
long after the first day. A new user gets an unusable password (:data:`UNUSABLE_PREFIX`: no hash
matches it, so the login form refuses it like a wrong password) and a token; only the token's
SHA-256 is stored, so a database copy opens no account. The link is handed over once:

* e-mailed to the user when SMTP is configured (``CRM_SMTP_HOST``, the greetings room's
  :class:`~backoffice.messaging.channels.mail.SmtpChannel`), else
* shown once to whoever imported the file: on the batch page to its uploader, or in the output of
  ``flask crm import`` (the key ring seals it until then; it is erased when shown).

A token works once, until ``CRM_SET_PASSWORD_HOURS`` after it was made; the new password must
pass the password policy (``backoffice.security.passwords``). Using one ends every other token
of the user.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from backoffice.audit import log
from models.base import utcnow
from models.org import SetPasswordToken, Staff

UNUSABLE_PREFIX = "!unset:"  # not "method$salt$hash": werkzeug never matches it
DEFAULT_HOURS = 72


def unusable_password() -> str:
    return UNUSABLE_PREFIX + secrets.token_hex(8)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aad(token_id: int) -> bytes:
    from models import crypto

    return crypto.aad("set_password_token", "sealed_link", str(int(token_id)))


def lifetime() -> dt.timedelta:
    return dt.timedelta(hours=float(current_app.config.get("CRM_SET_PASSWORD_HOURS",
                                                           DEFAULT_HOURS)))


def issue(session, user_ids, batch_id=None) -> None:
    """A token for each of ``user_ids``, kept sealed until delivered (:func:`deliver`)."""
    from sqlalchemy import insert

    from models import crypto

    keyring = crypto.current_keyring()
    now = utcnow()
    rows = []
    tokens = []
    for user_id in user_ids:
        token = secrets.token_urlsafe(32)
        tokens.append(token)
        rows.append({"user_id": user_id, "token_hash": _digest(token), "batch_id": batch_id,
                     "created_at": now, "expires_at": now + lifetime()})
    if not rows:
        return
    connection = session.connection()
    connection.execute(insert(SetPasswordToken.__table__), rows)
    ids = dict(connection.execute(select(SetPasswordToken.token_hash, SetPasswordToken.id).where(
        SetPasswordToken.token_hash.in_([r["token_hash"] for r in rows]))).all())
    for token, row in zip(tokens, rows):
        token_id = ids[row["token_hash"]]
        connection.execute(update(SetPasswordToken.__table__).where(
            SetPasswordToken.id == token_id).values(sealed_link=keyring.encrypt_bytes(
                token.encode("ascii"), _aad(token_id))))


def link(token: str) -> str:
    """The page's address: absolute inside a request, else under ``CRM_BASE_URL`` if set."""
    from flask import has_request_context

    if has_request_context():
        return url_for("SetPasswordView.form", token=token, _external=True)
    base = (current_app.config.get("CRM_BASE_URL") or "").rstrip("/")
    return f"{base}/set-password/{token}"


def deliver(session, batch_id: int) -> list[dict]:
    """Hand over the batch's links not yet handed over: by e-mail when SMTP is configured,
    otherwise returned (``[{"username", "email", "link"}]``) for the caller to show once. Either
    way the sealed copy is erased, so a second call returns nothing."""
    from models import crypto

    tokens = session.execute(select(SetPasswordToken).where(
        SetPasswordToken.batch_id == batch_id, SetPasswordToken.sealed_link.is_not(None),
        SetPasswordToken.used_at.is_(None)).order_by(SetPasswordToken.id)).scalars().all()
    if not tokens:
        return []
    keyring = crypto.current_keyring()
    channel = _mail_channel()
    shown = []
    try:
        for token in tokens:
            raw = keyring.decrypt_bytes(token.sealed_link, _aad(token.id)).decode("ascii")
            user = token.user
            address = link(raw)
            if channel is not None and user.email and _mail(channel, user, address, token):
                token.emailed_at = utcnow()
            else:
                shown.append({"username": user.username, "email": user.email, "link": address})
            token.sealed_link = None
    finally:
        if channel is not None:
            channel.close()
    log.record("set_password_links_delivered", entity="ImportBatch", entity_id=batch_id,
               detail={"shown": len(shown), "emailed": len(tokens) - len(shown)})
    session.commit()
    return shown


def _mail_channel():
    if not current_app.config.get("CRM_SMTP_HOST"):
        return None
    from backoffice.messaging.channels.mail import SmtpChannel

    return SmtpChannel(current_app.config)


def _mail(channel, user, address: str, token) -> bool:
    from backoffice.messaging.delivery import SendError

    subject = gettext("Set your password for the customer back office")
    body = gettext("Hello %(name)s,\n\nyour user name is %(username)s. Choose your password "
                   "here (the link works once, until %(until)s UTC):\n\n%(link)s\n",
                   name=str(user), username=user.username,
                   until=token.expires_at.strftime("%Y-%m-%d %H:%M"), link=address)
    try:
        channel.prepare(user.email, subject, body, f"setpw-{token.id}").finish()
    except SendError:
        return False  # shown to the uploader instead
    return True


def valid_token(session, token: str) -> SetPasswordToken | None:
    """The token's row if it is known, unused and not expired."""
    if not token or len(token) > 100:
        return None
    row = session.execute(select(SetPasswordToken).where(
        SetPasswordToken.token_hash == _digest(token))).scalar()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def set_password(session, token: str, password: str) -> Staff:
    """Give the token's user ``password`` and use the token up (with every other token of the
    user). Raises ``LookupError`` for an unusable token, ``WeakPassword`` for a weak password."""
    from backoffice.security.passwords import check_password

    row = valid_token(session, token)
    if row is None:
        raise LookupError(token)
    user = row.user
    check_password(password, (user.username, user.first_name, user.last_name, user.email))
    now = utcnow()
    used = session.execute(update(SetPasswordToken).where(
        SetPasswordToken.id == row.id, SetPasswordToken.used_at.is_(None)).values(used_at=now))
    if used.rowcount != 1:  # used by a parallel request meanwhile
        session.rollback()
        raise LookupError(token)
    session.execute(update(SetPasswordToken).where(
        SetPasswordToken.user_id == user.id, SetPasswordToken.used_at.is_(None)).values(
            used_at=now, sealed_link=None))
    method = current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt")
    user.password = generate_password_hash(password, method=method)
    user.password_changed_at = now
    log.record("set_password", entity="Staff", entity_id=user.id, actor=user,
               detail={"username": user.username})
    session.commit()
    return user


class SetPasswordView(BaseView):
    """``/set-password/<token>``: open to anyone holding a valid link (no login)."""

    route_base = "/set-password"
    default_view = "form"

    @expose("/<string:token>", methods=["GET", "POST"])
    def form(self, token):
        from backoffice.extensions import db
        from backoffice.security.passwords import WeakPassword

        session = db.session
        row = valid_token(session, token)
        if row is None:
            log.record("set_password_refused", entity="SetPasswordToken",
                       detail={"reason": "unknown, used or expired"})
            session.commit()
            return self._page(None, [_l("This link is not valid: it was used already, it has "
                                        "expired or it is wrong. Ask your administrator for "
                                        "a new one.")], status=404)
        problems = []
        if request.method == "POST":
            password = request.form.get("password", "")
            if password != request.form.get("confirm", ""):
                problems = [_l("The two passwords are not the same.")]
            else:
                try:
                    set_password(session, token, password)
                except WeakPassword as weak:
                    session.rollback()
                    problems = list(weak.problems)
                except LookupError:
                    return redirect(url_for(".form", token=token))
                else:
                    flash(_l("Your password is set. Sign in with it."), "success")
                    return redirect(url_for(
                        current_app.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        return self._page(row.user, problems)

    def _page(self, user, problems, status=200):
        response = current_app.make_response((self.render_template(
            "security/set_password.html", user=user, problems=problems,
            title=_l("Set your password")), status))
        # The token is in the address: never send it on to another site.
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response
