"""List filters on big relations are exact text matches, never a select of the whole table."""
from __future__ import annotations


def test_accounts_filtered_by_customer_number(client_as, world):
    client = client_as("senior")
    page = client.get("/accounts/list/?_flt_0_customer=T000000002")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "客户c_rm2" in body and "客户c_rm1" not in body and "客户c_rm3" not in body
    # The search form offers a text box for the customer, not a <select> of every customer.
    assert 'id="customer"' not in body or "<select" not in body.split('id="customer"')[0][-200:]


def test_customer_number_filter_cannot_reach_out_of_scope(client_as, world):
    client = client_as("rm1")
    body = client.get("/transactions/list/?_flt_0_customer=T000000003").get_data(as_text=True)
    assert "客户c_rm3" not in body


def test_customers_filtered_by_owner_username(client_as, world):
    client = client_as("bm1")
    body = client.get("/customers/list/?_flt_0_owner=rm2").get_data(as_text=True)
    assert "T000000002" in body and "T000000001" not in body


def test_follow_ups_filtered_by_assignee_username(client_as, world):
    client = client_as("senior")
    body = client.get("/followups/list/?_flt_0_assignee=rm3").get_data(as_text=True)
    assert "回访 c_rm3" in body and "回访 c_rm1" not in body


def test_my_tasks_shows_only_my_open_tasks(client_as, world):
    body = client_as("rm1").get("/mytasks/list/").get_data(as_text=True)
    assert "回访 c_rm1" in body and "回访 c_rm2" not in body
