"""Errors a use case raises to refuse a write, and the pages a browser gets for HTTP errors.

Werkzeug's default error pages are English whatever the user's language ("Not Found — The
requested URL was not found on the server"), and Flask-AppBuilder answers a signed-in user
without the permission with a bare ``abort(403)``. The handlers here answer 403, 404, 405 and
500 with a page in the user's language inside the back office's layout. The 404 text does not
say whether a record exists (a record outside the user's scope is a 404 too). The REST API
keeps its JSON answers: paths under ``/api/`` are left to Werkzeug and FAB.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


class WriteRefused(Exception):
    """The write breaks a rule; ``errors`` maps field name (or ``_``) to a message."""

    def __init__(self, errors: dict):
        self.errors = {k: str(m) for k, m in errors.items()}
        super().__init__("; ".join(self.errors.values()))


# status -> (title, explanation)
PAGES = {
    403: (_l("Access denied"),
          _l("Your role may not open this page. If your work needs it, ask an administrator.")),
    404: (_l("Page not found"),
          _l("This page does not exist, or it is not available to you.")),
    405: (_l("Not allowed"), _l("This page cannot be used that way.")),
    500: (_l("Something went wrong"),
          _l("The error has been recorded. Try again; if it happens again, tell your "
             "administrator the time it happened.")),
}


def install(app: Flask) -> None:
    for status in PAGES:
        app.register_error_handler(status, _answer)


def _answer(error: HTTPException):
    if request.path.startswith("/api/"):
        return error  # the API's clients read JSON or Werkzeug's answer, not pages
    status = getattr(error, "code", None) or 500
    if not isinstance(error, HTTPException):
        error = InternalServerError(original_exception=error)
    title, text = PAGES.get(status, PAGES[500])
    try:
        page = render_template("errors/error.html", status=status, title=title, text=text,
                               base_template=current_app.appbuilder.base_template,
                               appbuilder=current_app.appbuilder)
    except Exception:  # the layout itself failed (database gone): a page without it
        log.exception("error page %s could not use the layout", status)
        home = _l("Back to the home page")
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}"
                f"</title></head><body><h1>{escape(title)}</h1><p>{escape(text)}</p>"
                f"<p><a href='/'>{escape(home)}</a></p></body></html>")
    return page, status
