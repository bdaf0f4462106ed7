"""Security: the security manager, role seeding, record scopes and request hooks."""
from __future__ import annotations

from flask import Flask


def install_request_hooks(app: Flask) -> None:
    """Per-request security plumbing shared by screens and APIs."""
    from flask_login import user_logged_in, user_logged_out

    from backoffice.security import scopes

    def _reset_scope(*_args, **_kwargs):
        scopes.forget_request_scope()

    user_logged_in.connect(_reset_scope, app)
    user_logged_out.connect(_reset_scope, app)
    install_not_found_for_denied_records(app)
    install_login_policy(app)


def install_login_policy(app: Flask) -> None:
    """Logins and sessions (issue 3): expiry, cookie-API CSRF, the agreement gate, headers.

    Order matters: an expired session is signed out before anything else looks at its user.
    """
    from backoffice.security import agreement, headers, sessions

    sessions.install(app)
    agreement.install(app)
    headers.install(app)


def record_endpoints(appbuilder) -> set[str]:
    """Endpoints that address one customer-data record by primary key (``<pk>`` routes)."""
    from flask import current_app

    from backoffice.security.scopes import SCOPED_ENTITIES

    scoped_views = {
        view.endpoint for view in appbuilder.baseviews
        if getattr(getattr(view, "datamodel", None), "obj", None) in SCOPED_ENTITIES
    }
    return {
        rule.endpoint for rule in current_app.url_map.iter_rules()
        if "pk" in rule.arguments and rule.endpoint.split(".")[0] in scoped_views
    }


def install_not_found_for_denied_records(app: Flask) -> None:
    """A signed-in user refused a record route gets 404, never a 403 confirming it exists.

    Out-of-scope records already answer 404 (the scoped query finds nothing); this covers the
    other refusal, a role without permission on the screen at all, so that no response tells a
    user whether a customer record with that id exists.
    """
    from flask import jsonify, request
    from flask_babel import gettext
    from werkzeug.exceptions import NotFound

    with app.app_context():
        endpoints = record_endpoints(app.appbuilder)

    @app.after_request
    def _refusal_as_not_found(response):
        if request.endpoint not in endpoints or response.status_code not in (302, 401, 403):
            return response
        user = app.appbuilder.sm.current_user
        if user is None or not user.is_authenticated:
            return response
        if response.status_code == 302 and "/login" not in (response.location or ""):
            return response
        if request.path.startswith("/api/"):
            not_found = jsonify(message=gettext("Not found"))
            not_found.status_code = 404
            return not_found
        return NotFound().get_response()
