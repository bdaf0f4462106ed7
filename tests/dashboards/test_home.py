"""The home page per role: which panels each role sees, that figures and links follow the
user's scope, that refreshing is a permission of managers, and that one broken panel does not
take the page down."""
from __future__ import annotations

import json
import re

import pytest

from backoffice.dashboards.registry import Panel, register_panel, unregister_panel
from tests.support.web import csrf_token

PANELS = re.compile(r'id="panel-([a-z_]+)"')


@pytest.fixture
def refreshed(app, world, client_as):
    client = client_as("senior")
    token = csrf_token(client, "/")
    response = client.post("/dashboard/refresh", data={"csrf_token": token})
    assert response.status_code == 302
    return client


def _figures(html: str) -> list[dict]:
    return [json.loads(raw.replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&"))
            for raw in re.findall(r"data-figure='([^']*)'", html)]


BUILT_IN = {"tiers", "tasks", "movement", "channels", "flow"}


@pytest.mark.parametrize("username, expected, allowed", [
    ("senior", {"tiers", "tasks", "channels", "flow"}, BUILT_IN),
    ("bm1", {"tiers", "tasks", "channels", "flow"}, BUILT_IN),
    ("rm1", {"tiers", "tasks", "channels", "flow"}, BUILT_IN),
    ("teller1", {"tiers", "tasks", "channels"}, BUILT_IN - {"flow"}),
    ("admin", set(), set()), ("operator", set(), set()), ("auditor", set(), set()),
])
def test_each_role_sees_its_panels(refreshed, client_as, username, expected, allowed):
    """Serving roles see their book's panels (a panel with no figures, such as no customer
    joining or leaving in the year, is left out); configuration roles see none."""
    page = client_as(username).get("/").get_data(as_text=True)
    shown = set(PANELS.findall(page)) & BUILT_IN
    assert expected <= shown <= allowed


def test_chart_library_is_served_by_the_app(refreshed):
    page = refreshed.get("/").get_data(as_text=True)
    src = re.search(r'src="(/vendor/plotly-[^"]+)"', page).group(1)
    assert refreshed.get(src).status_code == 200
    # Nothing is loaded from another host (a random CSP nonce may spell "cdn", so look at URLs).
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)


def test_tier_points_open_the_filtered_customer_list(refreshed, world):
    """Clicking a tier bar opens the customer list filtered to that tier, which lists exactly
    the customers the bar counts."""
    page = refreshed.get("/").get_data(as_text=True)
    tier_chart = next(f for f in _figures(page) if f["data"][0].get("customdata")
                      and "tier" in (f["data"][0]["customdata"][0] or ""))
    trace = tier_chart["data"][0]
    for label, count, link in zip(trace["x"], trace["y"], trace["customdata"]):
        if not link:
            continue
        listing = refreshed.get(link).get_data(as_text=True)
        assert refreshed.get(link).status_code == 200
        match = re.search(r"(\d+)\+?\s*</", listing.split("Record Count")[-1]) if (
            "Record Count" in listing) else None
        if match:
            assert int(match.group(1)) == count, (label, link)


def test_teller_sees_no_amounts(refreshed, client_as):
    page = client_as("teller1").get("/").get_data(as_text=True)
    table = page.split('id="panel-tiers"')[1].split("</table>")[0]
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells and all(not re.match(r"^[\d,]+\.\d\d$", c.strip()) for c in cells[2::3])


def test_branch_manager_figures_stay_in_the_branch(refreshed, client_as, world):
    """bm1's tier counts add up to B1's live customers only (c_rm3 of B2 is not counted)."""
    from backoffice.extensions import db
    from models import Customer

    page = client_as("bm1").get("/").get_data(as_text=True)
    table = page.split('id="panel-tiers"')[1].split("</table>")[0]
    counts = [int(c) for c in re.findall(r"<td>(\d+)</td>", table)]
    with refreshed.application.app_context():
        b1 = db.session.query(Customer).filter(
            Customer.branch_id == world.branches["B1"],
            Customer.status != "closed").execution_options(crm_unscoped=True).count()
        db.session.remove()
    assert sum(counts) == b1


@pytest.mark.parametrize("username", ["rm1", "teller1", "auditor", "operator"])
def test_refresh_needs_the_permission(refreshed, client_as, username):
    """Only managers may start a refresh: others get no button and are turned away."""
    from backoffice.extensions import db
    from models import JobRun

    client = client_as(username)
    assert 'id="refresh-figures"' not in client.get("/").get_data(as_text=True)
    with client.application.app_context():
        before = db.session.query(JobRun).count()
    token = csrf_token(client, "/users/userinfo/")
    response = client.post("/dashboard/refresh", data={"csrf_token": token})
    assert response.status_code in (302, 403)
    with client.application.app_context():
        assert db.session.query(JobRun).count() == before  # no job was started
        db.session.remove()


def test_a_broken_panel_does_not_break_the_home_page(refreshed):
    def broken():
        raise RuntimeError("boom")

    register_panel(Panel("broken_test", "Broken", broken,
                         permission=("can_see_panel_tiers", "Dashboard"), order=1))
    try:
        response = refreshed.get("/")
        assert response.status_code == 200
        assert 'id="panel-broken_test"' in response.get_data(as_text=True)
        assert 'id="panel-tiers"' in response.get_data(as_text=True)
    finally:
        unregister_panel("broken_test")


def test_panels_are_scoped_by_permission(refreshed, client_as):
    """A panel shows to the roles granting its permission: relationship managers may propose
    changes (makers), senior managers approve instead and do not hold it."""
    register_panel(Panel("makers_only_test", "Makers only", lambda: {"figure": None},
                         permission=("can_propose", "ChangeRequest"), order=99))
    try:
        assert 'id="panel-makers_only_test"' in client_as("rm1").get("/").get_data(as_text=True)
        assert 'id="panel-makers_only_test"' not in refreshed.get("/").get_data(as_text=True)
    finally:
        unregister_panel("makers_only_test")
