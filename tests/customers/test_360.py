"""The customer 360 page: holdings, activity, open work, and changes waiting for review."""
from __future__ import annotations

from tests.support.web import api_token


def test_360_links_pending_change_requests(app, world, client, client_as):
    """A teller's change waiting for review is visible from the customer's 360 page."""
    token = api_token(client, "teller1")
    pk = world.customers["c_rm2"]
    response = client.put(f"/api/v1/customer/{pk}", json={"mobile": "13700002222"},
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.json
    change_id = response.json["change_request"]
    page = client_as("bm1").get(f"/customers/show/{pk}").get_data(as_text=True)
    assert 'id="pending-changes"' in page and f"/review/show/{change_id}" in page
    withdrawn = client.post(f"/api/v1/changerequest/{change_id}/withdraw", json={},
                            headers={"Authorization": f"Bearer {token}"})
    assert withdrawn.status_code == 200, withdrawn.json
    page = client_as("bm1").get(f"/customers/show/{pk}").get_data(as_text=True)
    assert 'id="pending-changes"' not in page


def test_360_shows_holdings_only_to_those_who_may_see_the_deep_profile(world, client_as):
    owner_page = client_as("rm1").get(f"/customers/show/{world.customers['c_rm1']}")
    assert "1,234,567.89" in owner_page.get_data(as_text=True)
    branch_page = client_as("bm1").get(f"/customers/show/{world.customers['c_rm1']}")
    assert branch_page.status_code == 200
    assert "1,234,567.89" not in branch_page.get_data(as_text=True)
