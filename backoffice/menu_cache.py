"""The navigation menu rendered once per process for each set of visible items and language.

FAB renders its menu template on every page: about fifty items, each checked against the user's
permissions and translated, a good part of a page's rendering. What the menu shows depends only
on which items the user may see (read from the request's permission set, which follows role
changes at once), the language and the application root, so the HTML is kept per process under
exactly that key. The markup is FAB's own ``navbar_menu.html`` (this app's template of that name
calls :func:`menu_html` instead).
"""
from __future__ import annotations

import threading
from pathlib import Path

from flask import current_app, request
from markupsafe import Markup

_rendered: dict[tuple, Markup] = {}
_lock = threading.Lock()
_MAX_ENTRIES = 256
_template = None


def _fab_template():
    """FAB's menu template, compiled once (this app's template of the same name shadows it)."""
    global _template
    if _template is None:
        import flask_appbuilder

        source = (Path(flask_appbuilder.__file__).parent
                  / "templates/appbuilder/navbar_menu.html").read_text(encoding="utf-8")
        _template = current_app.jinja_env.from_string(source)
    return _template


def _menu_grants(menu):
    """What decides the menu's items: the user's ``menu_access`` grants (from the request's
    permission set when the security manager has read it), else each item asked in turn."""
    from flask import g

    sm = current_app.appbuilder.sm
    sm.has_access("menu_access", "")  # reads the request's permission set, if logged in
    cached = g.get("_crm_permissions")
    user = sm.current_user
    if cached is not None and user is not None and cached[0] == getattr(user, "id", None):
        return frozenset(view for permission, view in cached[1] if permission == "menu_access")
    visible = []
    for item in menu.get_list():
        if sm.has_access("menu_access", item.name):
            visible.append(item.name)
            visible.extend(child.name for child in (item.childs or [])
                           if child and child.name != "-"
                           and sm.has_access("menu_access", child.name))
    return tuple(visible)


def menu_html(menu) -> Markup:
    """The menu's ``<li>`` items for the current user, from the cache when already rendered."""
    from flask_babel import get_locale

    key = (id(menu), str(get_locale()), request.script_root, _menu_grants(menu))
    html = _rendered.get(key)
    if html is None:
        html = Markup(_fab_template().render(menu=menu))
        with _lock:
            if len(_rendered) >= _MAX_ENTRIES:
                _rendered.clear()
            _rendered[key] = html
    return html


def install(app) -> None:
    app.jinja_env.globals["crm_menu_html"] = menu_html
