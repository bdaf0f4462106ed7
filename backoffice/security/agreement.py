"""The confidentiality agreement (保密协议) every member of staff accepts at first login.

Why a gate on every request and not a step in the login form: staff log in through the form,
the API and whatever comes later; checking before every view means no screen or API call is
reached by someone who has not accepted, whichever way they signed in.

* Screens: a signed-in user with no acceptance on record is sent to ``/agreement/`` (and back
  to where they were going afterwards). Only the agreement, logout, the language switch and
  static files are reachable until then.
* API: calls are refused with 403 and a message saying where to accept; the API login itself
  still answers (the token is useless until the agreement is accepted).
* Acceptance is a POST with the CSRF token and a ticked box; its time is stored on the staff row
  (``confidentiality_accepted_at``, shown to admins and auditors on the user screens) and written
  to the operation log (``agreement_accepted``, with the agreement's version).
"""
from __future__ import annotations

from flask import Flask, current_app, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

# Bump when the text changes materially; the version accepted goes into the operation log.
AGREEMENT_VERSION = "2026-12"

# The agreement, clause by clause (msgids in English, the Chinese text in the zh catalogue).
CLAUSES = [
    _l("I will use customers' personal and financial information only for the work my role "
       "requires, and will look up, copy or export no more of it than that work needs."),
    _l("I will not disclose customer information to anyone inside or outside the bank who is "
       "not authorised to receive it, and will not take it out of the bank's systems, including "
       "by photograph, screenshot, private e-mail, messaging apps or removable media."),
    _l("I will keep my login and password to myself, will lock or sign out of the back office "
       "when I leave my workstation, and will not let anyone else work under my account."),
    _l("I understand that every view, change, export and reveal of customer information is "
       "recorded in the operation log under my name and may be reviewed by auditors."),
    _l("I will report any suspected leak, loss or misuse of customer information to my manager "
       "and the information security team at once."),
    _l("These duties continue after I change role or leave the bank. Breaking them may lead to "
       "disciplinary action and to liability under the Personal Information Protection Law and "
       "banking regulations."),
]

EXEMPT_VIEWS = {"AgreementView", "LocaleView", "static", "appbuilder"}
API_EXEMPT_PATHS = ("/api/v1/security/",)


class AgreementView(BaseView):
    """Shows the agreement and records its acceptance."""

    route_base = "/agreement"
    default_view = "agreement"

    @expose("/", methods=["GET", "POST"])
    def agreement(self):
        from flask_login import current_user

        if not current_user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.endpoint + ".login"))
        user = current_user._get_current_object()
        next_url = _safe_next(request.values.get("next"))
        if request.method == "POST":
            if request.form.get("accept") != "yes":
                flash(gettext("Tick the box to confirm that you accept the agreement."),
                      "warning")
            else:
                if user.confidentiality_accepted_at is None:
                    accept(user)
                flash(gettext("Thank you: your acceptance of the confidentiality agreement has "
                              "been recorded."), "info")
                return redirect(next_url)
        return self.render_template(
            "security/agreement.html", clauses=CLAUSES, user=user, next_url=next_url,
            accepted_at=user.confidentiality_accepted_at, version=AGREEMENT_VERSION,
            title=gettext("Confidentiality agreement"),
        )


def accept(user) -> None:
    """Record ``user``'s acceptance now, and log it."""
    from backoffice.extensions import db
    from backoffice.security.login_policy import audit
    from models.base import utcnow

    user.confidentiality_accepted_at = utcnow()
    db.session.add(user)
    db.session.commit()
    audit("agreement_accepted", actor=user, user=user, detail={"version": AGREEMENT_VERSION})


def _safe_next(target: str | None) -> str:
    from flask_appbuilder.utils.base import get_safe_redirect

    index = current_app.appbuilder.get_url_for_index
    if not target or target.startswith("/agreement"):
        return index
    return get_safe_redirect(target) or index


def install(app: Flask) -> None:
    """Register the agreement screen and the gate in front of every other view."""
    with app.app_context():
        app.appbuilder.add_view_no_menu(AgreementView)
    app.before_request(require_agreement)


def _request_user():
    """The signed-in user (session cookie, or a valid API token); None if there is none."""
    from flask_login import current_user

    if current_user.is_authenticated:
        return current_user._get_current_object()
    if not request.path.startswith("/api/"):
        return None
    if not request.headers.get("Authorization", "").lower().startswith("bearer "):
        return None
    from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request

    try:  # a bad or expired token is FAB's to answer (401), not ours
        verify_jwt_in_request(optional=True)
        identity = get_jwt_identity()
    except Exception:  # noqa: BLE001 - any token problem: let the API's own check speak
        return None
    return current_app.appbuilder.sm.load_user(identity) if identity else None


def require_agreement():
    """before_request: no screen or API for a user who has not accepted the agreement."""
    endpoint = request.endpoint or ""
    if endpoint.split(".")[0] in EXEMPT_VIEWS or request.path.startswith(API_EXEMPT_PATHS):
        return None
    sm = current_app.appbuilder.sm
    if endpoint.split(".")[0] == sm.auth_view.endpoint:
        return None  # login and logout
    user = _request_user()
    if user is None or getattr(user, "confidentiality_accepted_at", None) is not None:
        return None
    if request.path.startswith("/api/"):
        response = jsonify(message=gettext(
            "You must accept the confidentiality agreement before using the back office: sign "
            "in to the back office screens and accept it at /agreement/."))
        response.status_code = 403
        return response
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("AgreementView.agreement", next=target))
