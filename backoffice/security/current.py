"""Request helpers every room uses: who is signed in, and "404 rather than 403".

One definition each, in the core, so that rooms do not each carry a copy that drifts (one copy
returned anonymous users, another raised outside a request).
"""
from __future__ import annotations

import functools

from flask import abort, current_app, has_request_context
from werkzeug.exceptions import Forbidden


def current_user():
    """The signed-in user of the request (session cookie or JWT), or None: outside a request,
    before the security manager exists, or for an anonymous visitor."""
    if not has_request_context():
        return None
    try:
        user = current_app.appbuilder.sm.current_user
    except Exception:  # noqa: BLE001 - no security manager or no user: nobody
        return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def not_found_if_denied(view_method):
    """A record route refused for lack of permission answers 404 (never a 403 that confirms
    the record exists)."""

    @functools.wraps(view_method)
    def wrapper(*args, **kwargs):
        try:
            return view_method(*args, **kwargs)
        except Forbidden:
            abort(404)

    return wrapper
