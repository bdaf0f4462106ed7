"""The scope matrix: every role against every customer-data route, found from the URL map.

Guards the central promise of the foundation: a record outside the user's scope does not exist
for them on any path (list, show, edit, delete, actions, REST API), and every attempt to reach it
by id answers 404. Routes are discovered from ``app.url_map``, and a route of a customer-data view
whose shape this test does not know fails the test, so a new route cannot escape the matrix.
"""
from __future__ import annotations

import json
import re

import pytest

from backoffice.security.scopes import SCOPED_ENTITIES
from tests.support.web import csrf_token
from tests.support.world import CUSTOMERS, STAFF, VISIBLE

ENTITY_NAMES = {entity: entity.__name__ for entity in SCOPED_ENTITIES}
# Rule shapes (the rule string after the view's route base) and how the matrix exercises them.
PK_READS = {"/show/<pk>", "/edit/<pk>", "/api/v1/{r}/<pk>", "/api/v1/{r}/<int:pk>",
            "/reveal/<pk>/<string:field>",
            "/show/<pk>/tab/<string:tab>"}  # the 360 page's tabs, loaded when opened
PK_WRITES = {"/edit/<pk>", "/delete/<pk>", "/api/v1/{r}/<pk>", "/api/v1/{r}/<int:pk>",
             "/action/<string:name>/<pk>"}
LISTS = {"/list/", "/api/v1/{r}/"}
NO_RECORD = {"/add", "/api/v1/{r}/_info", "/download/<string:filename>", "/action_post",
             "/export/<string:fmt>",
             "/save-view"}  # a personal field set (list layout): no record, POST only


RECORD_COUNT = re.compile(r"(?:Record Count|记录数)\s*:?\s*(?:<[^>]+>\s*)*(\d+)")


def scoped_views(app):
    """FAB views and APIs whose model is customer data, with their route base."""
    for view in app.appbuilder.baseviews:
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if model in SCOPED_ENTITIES:
            yield view, model


def rules_of(app, view):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] == view.endpoint:
            yield rule


def shape(rule, view) -> str:
    resource = getattr(view, "resource_name", None)
    if resource and rule.rule.startswith(f"/api/v1/{resource}/"):
        return rule.rule.replace(f"/api/v1/{resource}/", "/api/v1/{r}/")
    return rule.rule[len(view.route_base):]


def marker(key: str) -> str:
    """Text that appears wherever a customer's records are listed (the customer's name)."""
    return f"客户{key}"


def test_every_customer_data_route_is_known(app, world):
    """A new route on a customer-data view must be added to this matrix before it ships."""
    known = PK_READS | PK_WRITES | LISTS | NO_RECORD
    unknown = sorted(
        f"{rule.endpoint} {rule.rule}"
        for view, _ in scoped_views(app) for rule in rules_of(app, view)
        if shape(rule, view) not in known
    )
    assert unknown == [], f"routes not covered by the scope matrix: {unknown}"
    assert len(list(scoped_views(app))) >= 10


def record_id(world, model, key):
    return world.records_of(key)[ENTITY_NAMES[model]]


def assert_denied(response, context):
    """Out of scope, or no permission on the screen: nothing returned, and never a 403/500."""
    assert response.status_code == 404, f"{context}: {response.status_code}"


@pytest.mark.parametrize("username", sorted(STAFF))
def test_record_routes_answer_404_out_of_scope(app, world, client_as, username):
    client = client_as(username)
    token = csrf_token(client, "/resetmypassword/form")  # one token is valid for the session
    headers = {"X-CSRFToken": token}
    for view, model in scoped_views(app):
        for rule in rules_of(app, view):
            rule_shape = shape(rule, view)
            if rule_shape not in PK_READS | PK_WRITES:
                continue
            for key in CUSTOMERS:
                if key in VISIBLE[username]:
                    continue
                pk = record_id(world, model, key)
                url = rule.rule.replace("<pk>", str(pk)).replace("<int:pk>", str(pk))
                url = url.replace("<string:name>", next(iter(getattr(view, "actions", {})), "nosuch"))
                url = url.replace("<string:field>", "mobile").replace("<string:tab>", "holdings")
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    context = f"{username} {method} {url} ({key})"
                    if method == "GET":
                        response = client.get(url)
                    elif method == "POST":
                        response = client.post(url, data={"name": "X", "csrf_token": token})
                    elif method == "PUT":
                        response = client.put(url, json={"summary": "X", "name": "X"},
                                              headers=headers)
                    else:
                        response = client.delete(url, headers=headers)
                    assert_denied(response, context)
                    assert marker(key) not in response.get_data(as_text=True), context


@pytest.mark.parametrize("username", sorted(STAFF))
def test_lists_return_only_records_in_scope(app, world, client_as, username):
    client = client_as(username)
    for view, model in scoped_views(app):
        for rule in rules_of(app, view):
            if shape(rule, view) not in LISTS:
                continue
            response = client.get(rule.rule + "?q=" + json.dumps({"page_size": 100})
                                  if rule.rule.startswith("/api/") else rule.rule)
            body = response.get_data(as_text=True)
            assert response.status_code in (200, 302, 401, 403), (username, rule.rule)
            for key in CUSTOMERS:
                if key not in VISIBLE[username]:
                    assert marker(key) not in body, (username, rule.rule, key)
            if response.status_code == 200 and not rule.rule.startswith("/api/"):
                # The record count must be the count within the scope, not of the whole table.
                shown = RECORD_COUNT.search(body)
                assert shown, (username, rule.rule)
                rows = len(visible_ids(app, model, username))
                if getattr(view, "base_filters", None):  # "my tasks": a subset of the scope
                    assert int(shown.group(1)) <= rows, (username, rule.rule)
                else:
                    assert int(shown.group(1)) == rows, (username, rule.rule)
            if response.status_code == 200 and rule.rule.startswith("/api/"):
                returned = set(response.json["ids"])
                # Other tests add customers, so a scope may hold more than one page of 100:
                # the count is the scope's, the page is full up to it.
                count = response.json["count"]
                assert len(returned) == min(count, 100), (username, rule.rule)
                if not getattr(view, "base_filters", None):
                    assert count == len(visible_ids(app, model, username)), (username, rule.rule)
                allowed = {record_id(world, model, k) for k in VISIBLE[username]}
                assert returned <= allowed | visible_ids(app, model, username), (
                    username, rule.rule, returned - allowed)


def visible_ids(app, model, username):
    """Ids of every record of ``model`` in the user's scope (including other tests' records)."""
    from backoffice.extensions import db
    from backoffice.security import scopes

    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        with scopes.as_scope(scopes.scope_for_user(user)):
            return set(db.session.scalars(db.select(model.id)).all())


@pytest.mark.parametrize("username", sorted(u for u, v in VISIBLE.items() if v))
def test_records_in_scope_are_reachable(world, client_as, username):
    """The other half of the matrix: the scope does not hide what a user may see."""
    client = client_as(username)
    for key in VISIBLE[username]:
        ids = world.records_of(key)
        for path, entity in (("/customers/show/", "Customer"), ("/accounts/show/", "Account"),
                             ("/transactions/show/", "Transaction"),
                             ("/interactions/show/", "Interaction"),
                             ("/followups/show/", "FollowUp")):
            response = client.get(f"{path}{ids[entity]}")
            assert response.status_code == 200, (username, path, key)
        api = client.get(f"/api/v1/customer/{ids['Customer']}")
        assert api.status_code == 200, (username, key)


def test_out_of_scope_writes_change_nothing(app, world, client_as):
    """rm1 deleting or editing rm3's records by id: 404 and the records are untouched."""
    from backoffice.extensions import db
    from models import Customer, Interaction

    client = client_as("rm1")
    ids = world.records_of("c_rm3")
    token = csrf_token(client, "/resetmypassword/form")
    headers = {"X-CSRFToken": token}  # cookie-authenticated API writes need it (issue 3)
    assert client.delete(f"/api/v1/interaction/{ids['Interaction']}",
                         headers=headers).status_code == 404
    assert client.post(f"/interactions/delete/{ids['Interaction']}",
                       data={"csrf_token": token}).status_code == 404
    assert client.put(f"/api/v1/customer/{ids['Customer']}",
                      json={"name": "hijacked"}, headers=headers).status_code == 404
    with app.app_context():
        assert db.session.get(Interaction, ids["Interaction"]) is not None
        assert db.session.get(Customer, ids["Customer"]).name == "客户c_rm3"


def test_admin_and_auditor_see_no_customers_even_with_permission(app, world):
    """Scope 'none' hides customer rows below the views, whatever permissions a role gets."""
    from backoffice.extensions import db
    from backoffice.security import scopes
    from models import Customer

    with app.app_context():
        for username in ("admin", "auditor", "operator"):
            user = app.appbuilder.sm.find_user(username=username)
            with scopes.as_scope(scopes.scope_for_user(user)):
                assert db.session.scalars(db.select(Customer)).all() == []


def test_bulk_action_refuses_out_of_scope_rows(app, world, client_as):
    """FAB's action_post loads rows by pk without filters: one unseen row makes it a 404."""
    from backoffice.extensions import db
    from models import FollowUp

    client = client_as("rm1")
    token = csrf_token(client, "/followups/list/")
    foreign = world.follow_ups["c_rm3"]
    response = client.post("/followups/action_post", data={
        "action": "mark_done", "rowid": [str(world.follow_ups["c_rm1"]), str(foreign)],
        "csrf_token": token})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(FollowUp, foreign).status == "open"
        assert db.session.get(FollowUp, world.follow_ups["c_rm1"]).status == "open"
