"""Malformed request arguments answer 400 with a message on every route, never a 500.

Guards FAB's bare ``int()`` and list indexing of its list arguments (a page of "abc", a filter
position that does not exist), NUL bytes and over-long values that reached the database, and
filter values that do not fit their column. The routes come from the app's URL map, so a new
list, API, export or search route is walked without being named here; each is called as a
senior manager (bank-wide) and as a relationship manager (own book).
"""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from flask_appbuilder import ModelRestApi

from tests.support.web import api_token

USERS = ("senior", "rm1")
SKIP_PREFIXES = ("/static", "/lang/", "/logout", "/login", "/appbuilder", "/swagger",
                 "/resetmypassword", "/users/userinfo")
FILLERS = {"fmt": "csv"}  # route arguments a list-like route may need


def get_routes(app) -> list[tuple[str, str]]:
    """(url, endpoint) for every GET route without record ids."""
    routes = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(SKIP_PREFIXES):
            continue
        if not set(rule.arguments) <= set(FILLERS):
            continue
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{name: FILLERS[name] for name in rule.arguments})
        routes.append((url, rule.endpoint))
    return sorted(set(routes))


def views_by_endpoint(app) -> dict:
    return {view.endpoint: view for view in app.appbuilder.baseviews}


def view_of(app, endpoint):
    return views_by_endpoint(app).get(endpoint.split(".")[0])


def malformed_cases(view) -> list[tuple[str, str]]:
    """(label, query string) of arguments that are malformed whatever the route."""
    name = view.__class__.__name__ if view is not None else "CustomerView"
    cases = [
        ("nul in a value", "x=a%00b"),
        ("nul in a name", "x%00y=1"),
        ("over-long value", "x=" + "9" * 5000),
        ("page not a number", f"page_{name}=abc"),
        ("page negative", f"page_{name}=-1"),
        ("page huge", f"page_{name}=99999999999999999999"),
        ("page size not a number", f"psize_{name}=abc"),
        ("page size zero", f"psize_{name}=0"),
        ("page size negative", f"psize_{name}=-5"),
        ("bad sort direction", f"_oc_{name}=id&_od_{name}=sideways"),
        ("plain page", "page=abc"),
        ("plain page size", "page_size=-1"),
    ]
    if view is not None and getattr(view, "order_columns", None) is not None:
        cases.append(("unknown sort column", f"_oc_{name}=no_such_column&_od_{name}=asc"))
    return cases


def filter_cases(view) -> list[tuple[str, str]]:
    """Filter arguments malformed for ``view``'s list (empty if it reads no filters)."""
    filters = getattr(view, "_filters", None)
    if filters is None:
        return []
    cases = [("unknown filter column", "_flt_0_no_such_column=x")]
    offered = filters.get_search_filters()
    if offered:
        column = sorted(offered)[0]
        cases += [
            ("filter position out of range", f"_flt_{len(offered[column])}_{column}=x"),
            ("filter position with two digits", f"_flt_12_{column}=x"),
            ("nul in a filter value", f"_flt_0_{column}=a%00"),
        ]
    return cases


def api_cases() -> list[tuple[str, str]]:
    return [
        ("rison malformed", "q=" + quote("(page:")),
        ("rison not an object", "q=" + quote("!(1,2")),
        ("page not a number", "q=" + quote("(page:abc)")),
        ("page negative", "q=" + quote("(page:-1,page_size:10)")),
        ("page size negative", "q=" + quote("(page:0,page_size:-3)")),
        ("page size text", "q=" + quote("(page_size:'many')")),
        ("unknown order column", "q=" + quote("(order_column:no_such,order_direction:asc)")),
        ("bad order direction", "q=" + quote("(order_column:id,order_direction:up)")),
        ("unknown filter column", "q=" + quote("(filters:!((col:no_such,opr:eq,value:1)))")),
        ("unknown filter operation", "q=" + quote("(filters:!((col:id,opr:zz,value:1)))")),
        ("filter value too big", "q=" + quote("(filters:!((col:id,opr:eq,value:"
                                               "99999999999999999999999)))")),
        ("nul in rison", "q=" + quote("(filters:!((col:id,opr:eq,value:'a") + "%00'))))"),
    ]


@pytest.fixture(scope="module")
def callers(app, world):
    from tests.support.web import login

    made = {}
    for username in USERS:
        client = app.test_client()
        assert login(client, username).status_code == 302
        token = api_token(app.test_client(), username)
        made[username] = (client, {"Authorization": f"Bearer {token}"})
    return made


def describe(response) -> str:
    return f"{response.status_code}: {response.get_data(as_text=True)[:300]}"


def message_of(response) -> str:
    if response.is_json:
        return str((response.json or {}).get("message", ""))
    return response.get_data(as_text=True)


@pytest.mark.parametrize("username", USERS)
def test_every_list_route_refuses_malformed_arguments_with_400(app, callers, username):
    client, _ = callers[username]
    failures = []
    for url, endpoint in get_routes(app):
        view = view_of(app, endpoint)
        for label, query in malformed_cases(view) + filter_cases(view):
            response = client.get(f"{url}?{query}")
            if response.status_code != 400 or not message_of(response).strip():
                failures.append(f"{url}?{query[:80]} ({label}) -> {describe(response)}")
    assert not failures, "\n".join(failures[:40]) + f"\n... {len(failures)} in all"


@pytest.mark.parametrize("username", USERS)
def test_every_api_route_refuses_malformed_rison_with_400_and_never_500(app, callers,
                                                                       username):
    client, bearer = callers[username]
    failures = []
    api_routes = [(url, endpoint) for url, endpoint in get_routes(app)
                  if url.startswith("/api/")]
    assert api_routes, "no API route found in the URL map"
    for url, endpoint in api_routes:
        # FAB's model lists read q (order, page, filters); a hand-written list reads no q and
        # may answer 200 for what it ignores, but never 500.
        list_route = (endpoint.endswith(".get_list")
                      and isinstance(view_of(app, endpoint), ModelRestApi))
        for label, query in api_cases():
            for caller, headers in ((client, {}), (app.test_client(), bearer)):
                response = caller.get(f"{url}?{query}", headers=headers)
                if response.status_code >= 500 or (list_route and response.status_code != 400):
                    failures.append(f"{url}?{query[:80]} ({label}) -> {describe(response)}")
    assert not failures, "\n".join(failures[:40]) + f"\n... {len(failures)} in all"


@pytest.mark.parametrize("username", USERS)
def test_filter_values_that_do_not_fit_their_column_never_give_500(app, callers, username):
    """Every filter of every list, with text where a number or date belongs and a number beyond
    BIGINT: each is shown as "no match" or refused with 400, never a 500."""
    client, _ = callers[username]
    failures = []
    for url, endpoint in get_routes(app):
        view = view_of(app, endpoint)
        if getattr(view, "_filters", None) is None or not endpoint.endswith(".list"):
            continue
        for column, filters in sorted(view._filters.get_search_filters().items()):
            for index in range(len(filters)):
                for value in ("not-a-value", "99999999999999999999999", "2026-13-45"):
                    query = f"_flt_{index}_{column}={quote(value)}"
                    response = client.get(f"{url}?{query}")
                    if response.status_code >= 500:
                        failures.append(f"{url}?{query} -> {describe(response)}")
    assert not failures, "\n".join(failures[:40]) + f"\n... {len(failures)} in all"


def test_well_formed_arguments_still_work(client_as):
    """The checks refuse only what is malformed: pages, sizes, sorts and filters that exist
    pass as before."""
    client = client_as("senior")
    for query in ("page_CustomerView=0&psize_CustomerView=25",
                  "_oc_CustomerView=customer_no&_od_CustomerView=desc",
                  "_flt_0_name=%E5%BC%A0",
                  "page_CustomerView=1"):
        response = client.get(f"/customers/list/?{query}")
        assert response.status_code == 200, (query, describe(response))
    assert client.get("/api/v1/customer/?q=" + quote("(page:0,page_size:5)")).status_code == 200


def test_the_message_names_the_parameter_and_the_refusal_is_logged(app, client_as, world):
    from sqlalchemy import select

    from backoffice.extensions import db
    from models import AuditLog

    client = client_as("rm1")
    response = client.get("/customers/list/?psize_CustomerView=lots")
    assert response.status_code == 400
    assert "psize_CustomerView" in response.get_data(as_text=True)
    api = client.get("/api/v1/customer/?page_x=-1")
    assert api.status_code == 400 and "page_x" in api.json["message"]
    with app.app_context():
        rows = db.session.execute(select(AuditLog).where(AuditLog.action == "bad_request")
                                  .order_by(AuditLog.id.desc()).limit(2)).scalars().all()
        details = [json.loads(row.detail or "{}") for row in rows]
        db.session.remove()
    assert any((d or {}).get("parameter") == "psize_CustomerView" for d in details), details
    assert all("lots" not in str(d) for d in details), "the refused value was logged"


def test_nul_bytes_in_form_and_json_bodies_are_refused(client_as):
    from tests.support.web import csrf_token

    client = client_as("rm1")
    token = csrf_token(client, "/resetmypassword/form")
    form = client.post("/resetmypassword/form", data={"csrf_token": token,
                                                      "password": "a\x00b",
                                                      "conf_password": "a\x00b"})
    assert form.status_code == 400, describe(form)
    api = client.post("/api/v1/customer/", json={"name": "张\x00三"},
                      headers={"X-CSRFToken": token})
    assert api.status_code == 400 and "name" in api.json["message"], describe(api)
