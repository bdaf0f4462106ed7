"""Flask-Babel's translation lookup, remembered for the request.

Every ``_()`` in a template and every lazy label turned into text asks Flask-Babel for the
domain, the locale and the translations, each through several context-local proxies and a
``str(locale)``: a list page does that some three hundred times. The answer is the same for the
whole request unless the locale changes (``force_locale``, ``refresh``), so it is kept on
Flask-Babel's own per-request namespace, next to the locale it was found for, and looked up again
whenever that locale object is replaced or gone.
"""
from __future__ import annotations

import flask_babel
from flask.globals import _cv_app

_real_get_domain = flask_babel.get_domain
_real_get_translations = flask_babel.Domain.get_translations


def _babel_namespace():
    ctx = _cv_app.get(None)
    return None if ctx is None else ctx.g.__dict__.get("_flask_babel")


def get_domain():
    namespace = _babel_namespace()
    domain = getattr(namespace, "babel_domain", None)
    return domain if domain is not None else _real_get_domain()


def get_translations(self):
    namespace = _babel_namespace()
    locale = getattr(namespace, "babel_locale", None)
    if locale is None:  # the first lookup of the request chooses the locale
        return _real_get_translations(self)
    memo = namespace.__dict__.setdefault("_crm_translations", {})
    found = memo.get(id(self))
    if found is None or found[0] is not locale:
        found = memo[id(self)] = (locale, _real_get_translations(self))
    return found[1]


def install(app) -> None:
    """Process-wide (Flask-Babel's functions are module-level); idempotent."""
    flask_babel.get_domain = get_domain
    flask_babel.Domain.get_translations = get_translations
