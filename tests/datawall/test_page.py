"""The wall page and its JSON: one payload for both, the refresh interval from the settings,
scripts only with the request's nonce and from the app, Chinese by default with an English
switch, and tiles that follow the grants a role holds (a role added as data, no name tested)."""
from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from backoffice.datawall.figures import TILES
from backoffice.extensions import db
from backoffice.security.seeding import sync_roles
from config.roles import DASHBOARD_PANELS, DATAWALL, OWN_ACCOUNT, ROLES
from models import Staff
from tests.support.web import PASSWORD
from tests.support.world import ACCEPTED_AT

PAYLOAD = re.compile(r"data-payload='([^']*)'")


def payload_of(body: str) -> dict:
    return json.loads(html.unescape(PAYLOAD.search(body).group(1)))


def test_the_json_is_the_pages_payload(client_as, world, refreshed):
    client = client_as("bm1")
    body = client.get("/datawall/").get_data(as_text=True)
    response = client.get(f"/datawall/branch/{world.branches['B1']}/figures")
    assert response.status_code == 200 and response.mimetype == "application/json"
    first, again = payload_of(body), response.json
    first.pop("updated"), again.pop("updated")
    assert first == again
    assert [k["key"] for k in again["kpis"]] == ["customers", "assets", "overdue", "churn",
                                                 "complaints", "conversion"]
    assert [c["key"] for c in again["charts"]] == list(TILES)
    for chart in again["charts"]:
        assert chart["title"] and ("data" in chart["figure"])
    assert 'data-figures-url="/datawall/branch/%d/figures"' % world.branches["B1"] in body


def test_the_refresh_interval_is_the_setting(app, client_as, world, refreshed):
    app.config["CRM_DATAWALL_REFRESH_SECONDS"] = 17
    body = client_as("bm1").get("/datawall/").get_data(as_text=True)
    assert 'data-refresh-seconds="17"' in body


def test_scripts_are_the_apps_own_with_the_nonce(client_as, world, refreshed):
    response = client_as("senior").get("/datawall/")
    body = response.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script([^>]*)>", body)
    assert len(scripts) == 2
    for attributes in scripts:
        assert f'nonce="{nonce}"' in attributes
        assert re.search(r'src="/(vendor/plotly-[\d.]+\.min\.js|static/crm-datawall\.js)"',
                         attributes)
    assert "<script>" not in body and "http://" not in body and "https://" not in body


def test_chinese_by_default_and_english_on_request(client_as, world, refreshed):
    client = client_as("senior")
    zh = client.get("/datawall/").get_data(as_text=True)
    assert '<html lang="zh' in zh and "各分层客户数" in zh  # "Customers by tier"
    assert client.get("/lang/en").status_code == 302
    en = client.get("/datawall/").get_data(as_text=True)
    assert '<html lang="en"' in en and "Customers by tier" in en and "各分层客户数" not in en
    client.get("/lang/zh")


ROLE = "大屏测试角色"


@pytest.fixture
def role_user(app, world, monkeypatch):
    """``role_user(scope, grants)``: a user of a role the code never heard of, added as data
    and synced like ``flask crm init``; removed afterwards."""
    sm = app.appbuilder.sm
    made = []

    def make(scope: str, grants: list, branch_id=None) -> str:
        name, username = f"{ROLE}{len(made)}", f"wall_role_{len(made)}"
        spec = {"label": "Data wall test role", "scope": scope,
                "permissions": OWN_ACCOUNT + grants}
        monkeypatch.setitem(ROLES, name, spec)
        with app.app_context():
            sync_roles(app.appbuilder, {name: spec})
            user = sm.add_user(username=username, first_name="大屏", last_name="测试",
                               email=f"{username}@example.com", role=sm.find_role(name),
                               password=PASSWORD)
            user.confidentiality_accepted_at = ACCEPTED_AT
            user.branch_id = branch_id
            db.session.commit()
            db.session.remove()
        made.append((name, username))
        return username

    yield make
    with app.app_context():
        for name, username in made:
            db.session.delete(db.session.execute(
                select(Staff).where(Staff.username == username)).scalar_one())
            db.session.flush()
            db.session.delete(sm.find_role(name))
        db.session.commit()
        db.session.remove()


def test_a_role_added_as_data_sees_the_bank_with_its_granted_tiles_only(client_as, role_user,
                                                                        refreshed):
    """Bank-wide scope, the wall and the tier panel's grant: the bank's wall, one tile."""
    client = client_as(role_user("all", DATAWALL + DASHBOARD_PANELS["tiers"]))
    shown = client.get("/datawall/bank/figures").json
    assert [c["key"] for c in shown["charts"]] == ["tiers"]
    assert {k["key"] for k in shown["kpis"]} == {"customers", "assets"}
    assert client.get("/datawall/").status_code == 200


def test_a_book_of_ones_own_opens_no_wall_even_with_the_grant(client_as, role_user, world,
                                                              refreshed):
    """An "own" scope holds no whole branch: with the wall's grant it still gets 404."""
    client = client_as(role_user("own", DATAWALL + DASHBOARD_PANELS["tiers"],
                                 branch_id=world.branches["B1"]))
    for url in ("/datawall/", "/datawall/bank/", f"/datawall/branch/{world.branches['B1']}/",
                f"/datawall/branch/{world.branches['B1']}/figures"):
        assert client.get(url).status_code == 404, url
