"""The REST API: JWT login for machine clients, the same scopes, validation as 422, OpenAPI."""
from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from sqlalchemy import func, select

from backoffice.extensions import db
from models import Customer
from tests.support.web import api_token
from tests.support.world import customer_number, make_prc_id


def bearer(client, username):
    return {"Authorization": f"Bearer {api_token(client, username)}"}


def _plant_pair(app, world, marker: str) -> dict:
    """Two customers of this test sharing the name ``marker``: one in branch B1 (bm1's
    scope), one in B2 (outside it). Returns their ids by branch code."""
    import uuid

    ids = {}
    digits = int(uuid.uuid4().hex[:6], 16) % 900 + 100  # a serial for valid, unused ID numbers
    with app.app_context():
        for n, code in enumerate(("B1", "B2")):
            birth = dt.date(1985, 3 + n, 14)
            customer = Customer(
                customer_no=f"{marker[-12:].upper()}{code}", name=marker,
                customer_type="individual", gender="F", birth_date=birth, id_type="PRC_ID",
                id_number=make_prc_id(birth, digits, male=False),
                branch_id=world.branches[code],
                owner_id=world.staff["rm1" if code == "B1" else "rm3"], status="active",
                custom_fields={}, onboarded_on=dt.date(2022, 1, 1))
            db.session.add(customer)
            db.session.flush()
            ids[code] = customer.id
        db.session.commit()
    return ids


def _listed(client, headers, q=None) -> dict:
    """The API list page as ``{id: branch id}`` (``q`` a rison argument)."""
    url = "/api/v1/customer/" + (f"?q={quote(q)}" if q else "")
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.json
    rows = response.json["result"]
    assert len(rows) == len(response.json["ids"])
    return {pk: row["branch"]["id"] for pk, row in zip(response.json["ids"], rows)}


def test_jwt_client_lists_only_its_scope(app, client, world):
    """bm1's scope is branch B1: whatever else the table holds, every customer the API lists
    is in B1, its own in-scope customers are found when the list is narrowed to them, and the
    out-of-scope ones (the world's c_rm3, a planted twin in B2) never are."""
    import uuid

    marker = f"范围{uuid.uuid4().hex[:12]}"
    planted = _plant_pair(app, world, marker)
    headers = bearer(client, "bm1")
    try:
        first_page = _listed(client, headers, "(page:0,page_size:100)")
        assert first_page and set(first_page.values()) == {world.branches["B1"]}, first_page
        assert world.customers["c_rm3"] not in first_page and planted["B2"] not in first_page
        # Narrowed to the planted name: only the twin in scope, though both exist.
        by_name = _listed(client, headers, f"(filters:!((col:name,opr:eq,value:'{marker}')))")
        assert set(by_name) == {planted["B1"]}, by_name
        # Narrowed to each of the world's customers by number: B1's are there, B2's is not.
        for key, expected in (("c_rm1", True), ("c_rm2", True), ("c_rm3", False)):
            number = customer_number(world, key)
            found = _listed(client, headers,
                            f"(filters:!((col:customer_no,opr:eq,value:'{number}')))")
            assert (world.customers[key] in found) is expected, (key, found)
            assert len(found) == int(expected), (key, found)
        # Someone whose scope covers both branches sees both twins: the filter is not empty
        # for another reason.
        both = _listed(client, bearer(client, "senior"),
                       f"(filters:!((col:name,opr:eq,value:'{marker}')))")
        assert set(both) == {planted["B1"], planted["B2"]}, both
        for pk in (world.customers["c_rm3"], planted["B2"]):
            assert client.get(f"/api/v1/customer/{pk}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/customer/{planted['B1']}", headers=headers).status_code \
            == 200
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(Customer.__table__.delete().where(
                Customer.__table__.c.id.in_(list(planted.values()))))


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
