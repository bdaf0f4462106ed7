"""The statements behind the customer list and the 360 page: each read the page needs once.

Server CPU per page is mostly what the ORM does per statement (build, send, describe, turn rows
into objects), so a read that could ride in another statement is a cost on every page: the
signed-in user's roles and groups come with the user, the list's shown relations and the 360
header's branch and relationship managers come with their customers, and the churn score that
the 360 header badge and the profile tab both show is read once.
"""
from __future__ import annotations

import pytest
from tests.support.statements import counting


def page_statements(app, client, url) -> dict:
    client.get(url)  # warm: per-process caches are filled by the first request
    with counting(app) as seen:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return seen


def _lazy_from(seen, table: str) -> list[str]:
    return [s for s in seen["lazy"] if f"FROM {table}" in s or f"JOIN {table}" in s]


@pytest.mark.parametrize("username", ["senior", "bm1", "rm1"])
def test_user_roles_and_groups_come_with_the_user(app, world, client_as, username):
    """The first permission check reads the user's roles and groups: no lazy load of either."""
    seen = page_statements(app, client_as(username), "/customers/list/")
    assert not _lazy_from(seen, "ab_role"), seen["lazy"]
    assert not _lazy_from(seen, "ab_group"), seen["lazy"]


@pytest.mark.parametrize("username", ["senior", "bm1", "rm1"])
def test_list_reads_shown_relations_with_its_rows(app, world, client_as, username):
    """The branch and owner columns come in the page's own query, not in statements of their
    own (the customers are read with a join to both)."""
    seen = page_statements(app, client_as(username), "/customers/list/")
    rows = [s for s in seen["statements"]
            if s.lstrip().startswith("SELECT customer.id AS customer_id")]
    assert len(rows) == 1, rows
    assert "JOIN branch" in rows[0] and "JOIN ab_user" in rows[0], rows[0]
    assert not any(s.lstrip().startswith("SELECT branch.") for s in seen["statements"])


@pytest.mark.parametrize("username, key", [("senior", "c_rm1"), ("rm1", "c_rm1"),
                                           ("bm1", "c_rm2")])
def test_360_header_relations_come_with_the_customer(app, world, client_as, username, key):
    """The header shows the branch and the relationship manager: no lazy load of either, and
    the page still shows them."""
    client = client_as(username)
    url = f"/customers/show/{world.customers[key]}"
    seen = page_statements(app, client, url)
    assert not _lazy_from(seen, "branch"), seen["lazy"]
    assert not _lazy_from(seen, "ab_user"), seen["lazy"]
    page = client.get(url).get_data(as_text=True)
    assert 'id="customer-branch">—<' not in page
    assert 'id="customer-owner">—<' not in page


def test_360_reads_the_churn_score_once(app, world, client_as):
    """The header badge and the profile tab's churn panel share one read of the score."""
    seen = page_statements(app, client_as("senior"),
                           f"/customers/show/{world.customers['c_rm1']}")
    reads = [s for s in seen["statements"] if "FROM churn_score" in s]
    assert len(reads) == 1, reads
