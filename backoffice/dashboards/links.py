"""Click-through links: the URL of a list screen filtered the way a chart point counts.

FAB filters travel as ``_flt_<n>_<column>=value`` where ``n`` is the filter's position in that
column's filter list, which depends on the column type and on our own replacements; so the
position is looked up on the registered view instead of being hard-coded.
"""
from __future__ import annotations

from flask import current_app, url_for


def _view(view_name: str):
    for view in current_app.appbuilder.baseviews:
        if view.__class__.__name__ == view_name:
            return view
    return None


def list_url(view_name: str, *conditions: tuple[str, str, object]) -> str | None:
    """``/…/list/`` of ``view_name`` filtered by ``(column, filter arg_name, value)`` triples;
    None if the view (or one of its filters) is not registered, so no link is drawn."""
    view = _view(view_name)
    if view is None:
        return None
    args = {}
    for column, arg_name, value in conditions:
        filters = view._filters._search_filters.get(column, [])
        index = next((n for n, f in enumerate(filters) if f.arg_name == arg_name), None)
        if index is None:
            return None
        args[f"_flt_{index}_{column}"] = value
    return url_for(f"{view.endpoint}.list", **args)
