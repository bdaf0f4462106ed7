"""Reads and sessions go on record: logins, failed logins, logouts, the 360 page, API gets."""
from __future__ import annotations

import json

from models.audit import AuditLog
from tests.audit.conftest import last_id, log_rows
from tests.support.web import api_token, login

LOG = AuditLog.__table__


def _new(app, since, **match):
    return [r for r in log_rows(app, LOG.c.id > since)
            if all(r[k] == v for k, v in match.items())]


def test_login_failed_login_and_logout_are_logged(app, world, client):
    since = last_id(app)
    assert login(client, "rm2", "wrong-password-123").status_code in (200, 302)
    assert login(client, "rm2").status_code == 302
    client.get("/logout/")
    actions = [(r["action"], r["actor_username"]) for r in _new(app, since)
               if r["action"] in ("login", "login_failed", "logout")]
    assert actions == [("login_failed", "rm2"), ("login", "rm2"), ("logout", "rm2")]
    login_row = _new(app, since, action="login")[0]
    assert login_row["actor_id"] == world.staff["rm2"]
    assert login_row["actor_roles"] == "RelationshipManager"
    assert login_row["ip"] == "127.0.0.1"
    failed = _new(app, since, action="login_failed")[0]
    assert "wrong-password" not in (failed["detail"] or "")


def test_api_login_is_logged(app, world, client):
    since = last_id(app)
    api_token(client, "bm1")
    rows = _new(app, since, action="login")
    assert len(rows) == 1 and rows[0]["actor_username"] == "bm1"
    assert json.loads(rows[0]["detail"]) == {"via": "api"}


def test_customer_360_page_view_is_logged(app, world, client_as):
    client = client_as("rm1")
    pk = world.customers["c_rm1"]
    since = last_id(app)
    assert client.get(f"/customers/show/{pk}").status_code == 200
    rows = _new(app, since, action="view_360")
    assert len(rows) == 1
    assert rows[0]["customer_id"] == pk and rows[0]["entity_id"] == str(pk)
    assert rows[0]["actor_username"] == "rm1"


def test_refused_read_is_not_logged_as_a_view(app, world, client_as):
    client = client_as("rm1")
    since = last_id(app)
    assert client.get(f"/customers/show/{world.customers['c_rm3']}").status_code == 404
    assert _new(app, since, action="view_360") == []


def test_record_detail_page_names_its_customer(app, world, client_as):
    client = client_as("rm1")
    since = last_id(app)
    account = world.accounts["c_rm1"]
    assert client.get(f"/accounts/show/{account}").status_code == 200
    rows = _new(app, since, action="view_customer", entity="Account")
    assert rows and rows[0]["customer_id"] == world.customers["c_rm1"]


def test_api_single_and_list_gets_are_logged_with_ids(app, world, client):
    token = api_token(client, "bm1")
    headers = {"Authorization": f"Bearer {token}"}
    since = last_id(app)
    pk = world.customers["c_rm2"]
    assert client.get(f"/api/v1/customer/{pk}", headers=headers).status_code == 200
    listed = client.get("/api/v1/customer/", headers=headers)
    assert listed.status_code == 200
    rows = _new(app, since, action="api_get")
    single = [r for r in rows if r["entity_id"] == str(pk)]
    assert single and single[0]["customer_id"] == pk
    assert single[0]["actor_username"] == "bm1"
    listing = [r for r in rows if r["entity_id"] is None][0]
    assert json.loads(listing["detail"])["ids"] == listed.json["ids"]
