"""Quick health of the app: login works and each role lands on a page without errors."""


def test_login_and_customer_list(client_as, world):
    client = client_as("rm1")
    response = client.get("/customers/list/?_flt_0_name=客户c_rm")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "T000000001" in body
    assert "T000000002" not in body


def test_show_360_page(client_as, world):
    client = client_as("rm1")
    response = client.get(f"/customers/show/{world.customers['c_rm1']}")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert "record-interaction" in response.get_data(as_text=True)
