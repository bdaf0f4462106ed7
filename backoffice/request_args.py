"""Malformed request arguments are the caller's error: one check before any view runs.

Why one place: FAB reads its list arguments with bare ``int()`` and list indexing
(``page_<View>``, ``psize_<View>``, ``_flt_<n>_<column>``), so a hand-edited link crashed the
page with a 500, and a NUL byte or a 100,000-character value travelled down to the database
(PostgreSQL refuses NUL in text, a 500 again). Checking each view would miss the next one; a
``before_request`` hook sees every screen, API, export and search route alike and answers 400
with a message that names the parameter and says what is wrong with it. The attempt goes to the
operation log with the parameter's name and the reason, never its value (which may be a
customer's identifier).

What is checked:

* NUL bytes in the path, in any query argument (name or value), form field or JSON string;
* query values longer than ``MAX_VALUE_LENGTH`` characters, or more than ``MAX_ARGUMENTS``;
* page numbers (``page_<View>``, ``page``): whole numbers from 0; page sizes (``psize_<View>``,
  ``psize``, ``page_size``): whole numbers from 1 (a size above the cap is capped later);
* sort direction (``_od_<View>``): ``asc`` or ``desc``; sort column (``_oc_<View>``): one of that
  view's sortable columns;
* list filters (``_flt_<n>_<column>``): a column the view offers in its search form and a
  filter position that exists for it, checked against the list the request reads (the route's
  own view, or the list named by ``view=`` for routes that act on another list's filters).

The REST API's own arguments (rison ``q``) are checked by FAB and by ``CrmModelApi``; values that
are well formed but do not fit their column (a date filter of "abc") are refused by
``backoffice.datamodel`` when the query is built.
"""
from __future__ import annotations

import logging
import re

from flask import Flask, current_app, jsonify, request
from flask_babel import gettext
from werkzeug.exceptions import BadRequest

log = logging.getLogger(__name__)

MAX_VALUE_LENGTH = 4096
MAX_ARGUMENTS = 200
MAX_NUMBER = 10 ** 9
_WHOLE = re.compile(r"\d{1,10}")
_FILTER = re.compile(r"_flt_(\d+)_(.+)")
PAGE_NAMES = ("page",)
SIZE_NAMES = ("psize", "page_size")


class BadArgument(BadRequest):
    """A malformed request argument: ``name`` says which, the description says why."""

    def __init__(self, name: str, why: str):
        self.argument = name
        self.reason = why
        super().__init__(description=gettext("Parameter %(name)s: %(why)s", name=name,
                                             why=why))


def install(app: Flask) -> None:
    app.before_request(check_request)
    app.register_error_handler(BadArgument, _answer)


def check_request() -> None:
    """before_request: raise :class:`BadArgument` for the first malformed argument."""
    if "\x00" in request.path:
        raise BadArgument("path", gettext("contains a NUL byte"))
    args = request.args
    if len(args) > MAX_ARGUMENTS:
        raise BadArgument("?", gettext("more than %(count)d parameters", count=MAX_ARGUMENTS))
    for name in args:
        for value in args.getlist(name):
            check_text(name, value)
        check_list_argument(name, args.get(name, ""))
    if request.path.startswith("/api/") and args.get("q"):
        check_rison(args["q"])
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_body()
    check_view_arguments(args)


def check_text(name: str, value: str) -> None:
    if "\x00" in name or "\x00" in value:
        raise BadArgument(_printable(name), gettext("contains a NUL byte"))
    if len(value) > MAX_VALUE_LENGTH:
        raise BadArgument(_printable(name), gettext(
            "longer than %(limit)d characters", limit=MAX_VALUE_LENGTH))


def _printable(name: str) -> str:
    return name.replace("\x00", "\\0")[:80]


def _whole(name: str, value: str, lowest: int) -> None:
    if not _WHOLE.fullmatch(value or "") or not lowest <= int(value) <= MAX_NUMBER:
        raise BadArgument(name, gettext(
            "must be a whole number from %(low)d to %(high)d", low=lowest, high=MAX_NUMBER))


def check_list_argument(name: str, value: str) -> None:
    """FAB's list arguments, whatever view they name (FAB reads them all)."""
    if name.startswith("page_") or name in PAGE_NAMES:
        if name.startswith("page_size"):
            _whole(name, value, 1)
        else:
            _whole(name, value, 0)
    elif name.startswith("psize_") or name in SIZE_NAMES:
        _whole(name, value, 1)
    elif name.startswith("_od_") and value not in ("asc", "desc"):
        raise BadArgument(name, gettext("the sort direction must be asc or desc"))


def check_rison(value: str) -> None:
    """The REST API's ``q``: an object in rison (or JSON, as FAB also accepts), nothing else.

    FAB catches only the rison parser's own error; its parser raises others on truncated input
    (``(page:``), and a list where an object belongs breaks the handlers after it.
    """
    import json

    import prison

    try:
        parsed = prison.loads(value)
    except Exception:  # noqa: BLE001 - any parser failure is the caller's malformed q
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
    if not isinstance(parsed, dict):
        raise BadArgument("q", gettext("not a valid rison or JSON object"))
    for key in ("page", "page_size"):
        if key in parsed and (not isinstance(parsed[key], int) or isinstance(parsed[key], bool)
                              or not (0 if key == "page" else 1) <= parsed[key] <= MAX_NUMBER):
            raise BadArgument(f"q.{key}", gettext(
                "must be a whole number from %(low)d to %(high)d",
                low=0 if key == "page" else 1, high=MAX_NUMBER))


def check_body() -> None:
    """NUL bytes in form fields or JSON strings (files are the import checks' business)."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name in request.form:
            for value in request.form.getlist(name):
                if "\x00" in name or "\x00" in value:
                    raise BadArgument(_printable(name), gettext("contains a NUL byte"))
    elif request.is_json:
        data = request.get_json(silent=True)
        path = _nul_in_json(data)
        if path is not None:
            raise BadArgument(path or "body", gettext("contains a NUL byte"))


def _nul_in_json(data, path: str = "") -> str | None:
    if isinstance(data, str):
        return path if "\x00" in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and "\x00" in key:
                return _printable(key)
            found = _nul_in_json(value, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    if isinstance(data, list):
        for index, value in enumerate(data):
            found = _nul_in_json(value, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _views_by_name() -> dict:
    views = current_app.extensions.get("crm_views_by_name")
    if views is None:
        views = {view.__class__.__name__: view for view in current_app.appbuilder.baseviews}
        current_app.extensions["crm_views_by_name"] = views
    return views


def _views_by_endpoint() -> dict:
    views = current_app.extensions.get("crm_views_by_endpoint")
    if views is None:
        views = {view.endpoint: view for view in current_app.appbuilder.baseviews}
        current_app.extensions["crm_views_by_endpoint"] = views
    return views


def filtered_view(args):
    """The list view whose filters this request reads, or None."""
    by_endpoint = _views_by_endpoint()
    named = args.get("view")
    if named and getattr(by_endpoint.get(named), "_filters", None) is not None:
        return by_endpoint[named]
    view = by_endpoint.get((request.endpoint or "").split(".")[0])
    return view if getattr(view, "_filters", None) is not None else None


def check_view_arguments(args) -> None:
    """Sort columns and filters, against the view they are for."""
    views = _views_by_name()
    for name in args:
        if name.startswith("_oc_"):
            view = views.get(name[len("_oc_"):])
            columns = getattr(view, "order_columns", None)
            if view is not None and columns is not None and args.get(name) not in columns:
                raise BadArgument(name, gettext("there is no sortable column of that name"))
    filter_names = [name for name in args if name.startswith("_flt_")]
    if not filter_names:
        return
    view = filtered_view(args)
    if view is None:
        return
    offered = view._filters.get_search_filters()
    applied = view._filters._all_filters
    for name in filter_names:
        match = _FILTER.fullmatch(name)
        if match is None:
            raise BadArgument(name, gettext("not a filter of this list"))
        index, column = int(match.group(1)), match.group(2)
        if column not in offered or column not in applied:
            raise BadArgument(name, gettext("this list has no filter on that column"))
        if index >= min(len(offered[column]), len(applied[column])) or len(match.group(1)) > 1:
            raise BadArgument(name, gettext("there is no filter at that position"))


def _answer(error: BadArgument):
    """400 with the message: JSON for the API, FAB's error page otherwise; logged."""
    _record(error)
    if request.path.startswith("/api/"):
        response = jsonify(message=error.description)
        response.status_code = 400
        return response
    return error.get_response()


def _record(error: BadArgument) -> None:
    """Note the attempt (parameter name and reason only) for a signed-in caller.

    Anonymous requests are not written: they would let anyone fill the log from outside.
    """
    try:
        from flask_login import current_user

        signed_in = current_user.is_authenticated
    except Exception:  # noqa: BLE001 - no user machinery (an early failure): do not log
        signed_in = False
    if not signed_in and not request.headers.get("Authorization"):
        return
    try:
        from backoffice.audit.log import record

        record("bad_request", detail={"path": request.path.replace("\x00", "\\0")[:200],
                                      "parameter": error.argument,
                                      "reason": str(error.reason)})
    except Exception:  # noqa: BLE001 - a refused request stays refused if the log fails
        log.exception("could not record a refused request")
