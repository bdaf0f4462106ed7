"""The REST API: JWT login for machine clients, the same scopes, validation as 422, OpenAPI."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from backoffice.extensions import db
from models import Customer
from tests.support.web import api_token
from tests.support.world import make_prc_id


def bearer(client, username):
    return {"Authorization": f"Bearer {api_token(client, username)}"}


def test_jwt_client_lists_only_its_scope(client, world):
    headers = bearer(client, "bm1")
    response = client.get("/api/v1/customer/", headers=headers)
    assert response.status_code == 200
    ids = set(response.json["ids"])
    assert {world.customers["c_rm1"], world.customers["c_rm2"]} <= ids
    assert world.customers["c_rm3"] not in ids
    out_of_scope = client.get(f"/api/v1/customer/{world.customers['c_rm3']}", headers=headers)
    assert out_of_scope.status_code == 404


def test_api_without_credentials_is_refused(client, world):
    assert client.get("/api/v1/customer/").status_code == 401


def test_api_create_validates_and_writes_nothing_on_error(app, client, world):
    headers = bearer(client, "rm2")
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Customer))
    birth = dt.date(1990, 2, 3)
    payload = {"name": "接口客户", "customer_type": "individual", "gender": "F",
               "birth_date": birth.isoformat(), "id_type": "PRC_ID",
               "id_number": make_prc_id(birth, 91, male=False), "mobile": "13700001111",
               "branch": world.branches["B1"], "status": "active"}
    bad = client.post("/api/v1/customer/", json={**payload, "id_number": "110101199002031234"},
                      headers=headers)
    assert bad.status_code == 422
    assert "id_number" in bad.json["message"]
    bad_mobile = client.post("/api/v1/customer/", json={**payload, "mobile": "555"},
                             headers=headers)
    assert bad_mobile.status_code == 422 and "mobile" in bad_mobile.json["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == before
    good = client.post("/api/v1/customer/", json=payload, headers=headers)
    # A relationship manager's new customer is a change request until a reviewer approves it.
    assert good.status_code == 202, good.json
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == before
    approved = client.post(f"/api/v1/changerequest/{good.json['change_request']}/approve",
                           headers=bearer(client, "bm1"))
    assert approved.status_code == 200, approved.json
    with app.app_context():
        created = db.session.get(Customer, approved.json["result"]["customer_id"])
        assert created.owner_id == world.staff["rm2"]


def test_api_refuses_creating_outside_own_scope(app, client, world):
    """An RM cannot file a customer into another RM's book (it would vanish from their view)."""
    headers = bearer(client, "rm1")
    birth = dt.date(1985, 5, 5)
    response = client.post("/api/v1/customer/", json={
        "name": "别人的客户", "customer_type": "individual", "birth_date": birth.isoformat(),
        "id_type": "PRC_ID", "id_number": make_prc_id(birth, 92), "branch":
        world.branches["B2"], "owner": world.staff["rm3"], "status": "active"},
        headers=headers)
    assert response.status_code == 422
    assert "customer" in response.json["message"]


def test_negative_balance_refused_by_api(client, world):
    headers = bearer(client, "rm1")
    response = client.post("/api/v1/account/", json={
        "customer": world.customers["c_rm1"], "account_no": "6222000011112222333",
        "product": world.product_id, "balance": -1, "opened_on": "2026-01-01",
        "status": "open"}, headers=headers)
    assert response.status_code == 422
    assert "balance" in response.json["message"]


def test_transactions_are_read_only_in_the_api(client, world):
    headers = bearer(client, "senior")
    assert client.get("/api/v1/transaction/", headers=headers).status_code == 200
    assert client.post("/api/v1/transaction/", json={}, headers=headers).status_code in (404, 405)


def test_openapi_document_describes_the_customer_api(client, world):
    response = client.get("/api/v1/_openapi", headers=bearer(client, "rm1"))
    assert response.status_code == 200
    paths = response.json["paths"]
    for resource in ("customer", "account", "transaction", "interaction", "followup"):
        assert f"/api/v1/{resource}/" in paths, resource


def test_write_responses_are_masked_like_reads(app, client, world):
    """FAB echoes written values back; a checker's direct PUT must not return plaintext."""
    headers = bearer(client, "bm1")
    pk = world.customers["c_rm2"]
    with app.app_context():
        customer = db.session.get(Customer, pk)
        id_number = customer.id_number
    response = client.put(f"/api/v1/customer/{pk}", headers=headers, json={
        "mobile": "13911112222", "id_number": id_number, "email": "new-mail@example.com"})
    assert response.status_code == 200, response.json
    text = response.get_data(as_text=True)
    assert "13911112222" not in text and id_number not in text
    assert "new-mail@example.com" not in text
    assert response.json["result"]["mobile"] == "139****2222"
