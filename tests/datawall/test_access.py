"""Who opens which wall, on the page and its JSON, and where a planted figure shows.

A branch manager sees their branch's wall only (another branch, the bank, or a branch that does
not exist: 404, as a record outside the scope); a relationship manager, who holds no wall grant,
gets 403; the senior manager's bank-wide scope opens the bank and every branch. The planted
7,777,777 P1 warnings of branch B2 show on B2's walls and in the bank's total, never on B1's;
the 5,555,555.55 of private-banking assets planted in B1 count for the senior manager only.
"""
from __future__ import annotations

import json
import re

import pytest

from backoffice.extensions import db
from tests.datawall.conftest import P1_MARKER, TOP_ASSETS_MARKER, expected_tiles

PAYLOAD = re.compile(r"data-payload='([^']*)'")


def kpi(payload: dict, key: str) -> str:
    return next(k["value"] for k in payload["kpis"] if k["key"] == key)


def page_payload(response) -> dict:
    import html

    return json.loads(html.unescape(PAYLOAD.search(response.get_data(as_text=True)).group(1)))


def expected(app, branch_id=None, **kwargs):
    with app.app_context():
        result = expected_tiles(db.session, branch_id, **kwargs)
        db.session.remove()
    return result


@pytest.mark.parametrize("username", ["rm1", "teller1", "admin", "operator", "auditor"])
def test_a_role_without_the_wall_grant_gets_403(client_as, username):
    assert client_as(username).get("/datawall/").status_code == 403


@pytest.mark.parametrize("username", ["rm1", "teller1"])
def test_a_role_without_the_grant_gets_404_for_a_chosen_wall(client_as, world, username):
    client = client_as(username)
    own = world.branches["B1"]
    for url in (f"/datawall/branch/{own}/", f"/datawall/branch/{own}/figures",
                "/datawall/bank/", "/datawall/bank/figures"):
        assert client.get(url).status_code == 404, url


def test_a_branch_manager_opens_only_their_branch(client_as, world, planted):
    client = client_as("bm1")
    b1, b2 = world.branches["B1"], world.branches["B2"]
    for url in (f"/datawall/branch/{b2}/", f"/datawall/branch/{b2}/figures", "/datawall/bank/",
                "/datawall/bank/figures", "/datawall/branch/987654/",
                "/datawall/branch/987654/figures"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert f"{P1_MARKER:,}" not in response.get_data(as_text=True)
    page = client.get("/datawall/")
    assert page.status_code == 200
    assert "Test Branch One" in page.get_data(as_text=True)
    assert "Test Branch Two" not in page.get_data(as_text=True)  # no choice of other walls
    assert client.get(f"/datawall/branch/{b1}/").status_code == 200
    assert client.get(f"/datawall/branch/{b1}/figures").status_code == 200


def test_the_planted_p1_figure_shows_on_b2_walls_and_in_the_bank_only(app, client_as, world,
                                                                      planted):
    b1, b2 = world.branches["B1"], world.branches["B2"]
    b2_p1 = expected(app, b2)["churn"]["counts"]["P1"]
    bank_p1 = expected(app)["churn"]["counts"]["P1"]
    b1_p1 = expected(app, b1)["churn"]["counts"]["P1"]
    assert b2_p1 >= P1_MARKER and bank_p1 >= P1_MARKER and b1_p1 < P1_MARKER
    senior, bm1, bm2 = client_as("senior"), client_as("bm1"), client_as("bm2")
    assert kpi(senior.get(f"/datawall/branch/{b2}/figures").json, "churn") == f"{b2_p1:,}"
    assert kpi(page_payload(bm2.get("/datawall/")), "churn") == f"{b2_p1:,}"
    assert kpi(bm2.get(f"/datawall/branch/{b2}/figures").json, "churn") == f"{b2_p1:,}"
    assert kpi(senior.get("/datawall/bank/figures").json, "churn") == f"{bank_p1:,}"
    assert kpi(page_payload(senior.get("/datawall/")), "churn") == f"{bank_p1:,}"
    for response in (bm1.get("/datawall/"), bm1.get(f"/datawall/branch/{b1}/figures"),
                     senior.get(f"/datawall/branch/{b1}/figures")):
        body = response.get_data(as_text=True)
        assert f"{b2_p1:,}" not in body and f"{bank_p1:,}" not in body
    assert kpi(bm1.get(f"/datawall/branch/{b1}/figures").json, "churn") == f"{b1_p1:,}"


def test_planted_top_tier_assets_count_for_the_senior_manager_only(app, client_as, world,
                                                                   planted):
    b1 = world.branches["B1"]
    senior_view = expected(app, b1)["tiers"]["assets"]
    manager_view = expected(app, b1, top_assets=False)["tiers"]["assets"]
    assert senior_view - manager_view >= TOP_ASSETS_MARKER
    senior = client_as("senior").get(f"/datawall/branch/{b1}/figures").json
    manager = client_as("bm1").get(f"/datawall/branch/{b1}/figures").json
    assert kpi(senior, "assets") == f"{senior_view:,.2f}"
    assert kpi(manager, "assets") == f"{manager_view:,.2f}"
    assert f"{senior_view:,.2f}" not in json.dumps(manager, ensure_ascii=False)
    note = next(k["note"] for k in manager["kpis"] if k["key"] == "assets")
    assert note  # says that tiers whose assets the manager may not see are left out


def test_the_senior_manager_chooses_any_wall(client_as, world, planted):
    client = client_as("senior")
    page = client.get("/datawall/").get_data(as_text=True)
    for branch in ("Test Branch One", "Test Branch Two"):
        assert branch in page  # the choice of walls
    for code in ("B1", "B2"):
        pk = world.branches[code]
        assert client.get(f"/datawall/branch/{pk}/").status_code == 200
        assert client.get(f"/datawall/branch/{pk}/figures").json["wall"] == f"branch-{pk}"
    assert client.get("/datawall/bank/figures").json["wall"] == "bank"
    assert client.get("/datawall/branch/987654/").status_code == 404


def test_the_menu_entry_follows_the_grant(client_as, world):
    assert 'href="/datawall/"' in client_as("bm1").get("/").get_data(as_text=True)
    assert 'href="/datawall/"' in client_as("senior").get("/").get_data(as_text=True)
    assert 'href="/datawall/"' not in client_as("rm1").get("/").get_data(as_text=True)
