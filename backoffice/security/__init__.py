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
