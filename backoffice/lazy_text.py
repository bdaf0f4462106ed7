"""Lazy translations that interpolate a typed name stay escaped in HTML and flash messages.

Flask-Babel's ``LazyString`` has ``__html__`` returning the text as it is, so Jinja treats every
``lazy_gettext`` result as safe markup, and Flask's session serializer stores a flashed lazy
string as ``Markup``. A message such as ``_l("Edit %(name)s", name=segment.name)`` used as a
page title or flashed after a save therefore carried the name into the page unescaped: a
segment named ``<script>…`` ran in the browser of whoever opened it (a known Flask-Babel
behaviour, issues #121 and #224 there).

The message itself comes from the code and the translation catalogue and stays as it is; what
is interpolated into it (names users typed) is escaped. Numbers are passed unchanged so that
``%(n)d`` keeps working. Plain ``str()`` of a lazy string (JSON, logs, plain-text exports) is
not affected.
"""
from __future__ import annotations

from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape


def _escaped(value):
    if isinstance(value, (str, LazyString)) or hasattr(value, "__html__"):
        return escape(value)
    return value


def _html(self) -> Markup:
    """The translation with its variables escaped (positional arguments are message ids and
    counts from the code)."""
    kwargs = {name: _escaped(value) for name, value in self._kwargs.items()}
    return Markup(str(self._func(*self._args, **kwargs)))


def install(app=None) -> None:
    """Replace ``LazyString.__html__`` (idempotent; the class is shared by every app)."""
    LazyString.__html__ = _html
