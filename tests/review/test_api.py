"""Maker-checker through the REST API: the same rule as the screens (202 for a maker's write,
approval endpoints refusing self-approval, stale requests and other branches)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from backoffice.extensions import db
from models import ChangeRequest, Customer
from tests.support.web import api_token
from tests.support.world import make_prc_id


def bearer(client, username):
    return {"Authorization": f"Bearer {api_token(client, username)}"}


def customer_values(app, customer_id):
    with app.app_context():
        c = db.session.get(Customer, customer_id)
        values = (c.name, c.mobile, c.version)
        db.session.remove()
    return values


def status_of(app, request_id):
    with app.app_context():
        status = db.session.get(ChangeRequest, request_id).status
        db.session.remove()
    return status


def test_teller_put_of_mobile_answers_202_and_leaves_the_record(app, client, make_customer):
    cid = make_customer(owner="rm2", teller="teller1")
    before = customer_values(app, cid)
    response = client.put(f"/api/v1/customer/{cid}", json={"mobile": "13912345678"},
                          headers=bearer(client, "teller1"))
    assert response.status_code == 202, response.json
    assert response.json["status"] == "pending"
    assert customer_values(app, cid) == before
    detail = client.get(f"/api/v1/changerequest/{response.json['change_request']}",
                        headers=bearer(client, "teller1"))
    assert detail.status_code == 200
    diff = {row["field"]: row for row in detail.json["result"]["diff"]}
    assert diff["mobile"]["new"] == "139****5678"  # masked in JSON as on the screen
    assert "13912345678" not in detail.get_data(as_text=True)


def test_maker_put_of_a_non_reviewed_field_applies(app, client, make_customer):
    cid = make_customer(owner="rm1")
    response = client.put(f"/api/v1/customer/{cid}", json={"occupation": "律师"},
                          headers=bearer(client, "rm1"))
    assert response.status_code == 200, response.json
    with app.app_context():
        assert db.session.get(Customer, cid).occupation == "律师"
        db.session.remove()


def test_created_by_api_then_approved_by_api(app, client, world):
    birth = dt.date(1993, 9, 9)
    payload = {"name": "接口待审", "customer_type": "individual", "gender": "F",
               "birth_date": birth.isoformat(), "id_type": "PRC_ID",
               "id_number": make_prc_id(birth, 620, male=False), "mobile": "13700002222",
               "branch": world.branches["B1"], "status": "active"}
    response = client.post("/api/v1/customer/", json=payload, headers=bearer(client, "rm2"))
    assert response.status_code == 202, response.json
    request_id = response.json["change_request"]
    with app.app_context():
        assert db.session.scalars(select(Customer).where(Customer.name == "接口待审")).all() == []
        db.session.remove()
    queue = client.get("/api/v1/changerequest/", headers=bearer(client, "bm1"))
    assert request_id in queue.json["ids"]
    assert request_id not in client.get("/api/v1/changerequest/",
                                        headers=bearer(client, "bm2")).json["ids"]
    approved = client.post(f"/api/v1/changerequest/{request_id}/approve",
                           headers=bearer(client, "bm1"))
    assert approved.status_code == 200, approved.json
    assert approved.json["result"]["status"] == "approved"
    with app.app_context():
        created = db.session.get(Customer, approved.json["result"]["customer_id"])
        assert created.name == "接口待审" and created.owner_id == world.staff["rm2"]
        db.session.remove()
    again = client.post(f"/api/v1/changerequest/{request_id}/approve",
                        headers=bearer(client, "senior"))
    assert again.status_code == 409


def test_approval_endpoints_refuse_out_of_scope_and_unauthorised(app, client, make_customer):
    cid = make_customer(owner="rm1")
    response = client.put(f"/api/v1/customer/{cid}", json={"name": "接口越权"},
                          headers=bearer(client, "rm1"))
    request_id = response.json["change_request"]
    for username in ("bm2", "rm3", "auditor"):
        headers = bearer(client, username)
        assert client.get(f"/api/v1/changerequest/{request_id}",
                          headers=headers).status_code == 404, username
        for action in ("approve", "reject", "withdraw"):
            refused = client.post(f"/api/v1/changerequest/{request_id}/{action}",
                                  json={"reason": "x"}, headers=headers)
            assert refused.status_code == 404, (username, action, refused.json)
    own = client.post(f"/api/v1/changerequest/{request_id}/approve",
                      headers=bearer(client, "rm1"))
    assert own.status_code in (403, 404)  # no approval right (and the maker)
    assert client.post(f"/api/v1/changerequest/{request_id}/approve").status_code == 401
    assert status_of(app, request_id) == "pending"
    assert customer_values(app, cid)[0] != "接口越权"


def test_self_approval_refused_through_the_api(app, client, make_staff, make_customer):
    name, user_id = make_staff("RelationshipManager", branch="B1")
    cid = make_customer(owner="rm1")
    with app.app_context():
        db.session.get(Customer, cid).owner_id = user_id
        db.session.commit()
        db.session.remove()
    response = client.put(f"/api/v1/customer/{cid}", json={"name": "自批"},
                          headers=bearer(client, name))
    request_id = response.json["change_request"]
    with app.app_context():  # promoted to branch manager while the request waits
        sm = app.appbuilder.sm
        user = sm.get_user_by_id(user_id)
        user.roles.append(sm.find_role("BranchManager"))
        db.session.commit()
        db.session.remove()
    refused = client.post(f"/api/v1/changerequest/{request_id}/approve",
                          headers=bearer(client, name))
    assert refused.status_code == 403 and "maker" in refused.json["message"]
    assert status_of(app, request_id) == "pending"


def test_stale_approval_refused_through_the_api(app, client, make_customer):
    cid = make_customer(owner="rm1")
    response = client.put(f"/api/v1/customer/{cid}", json={"mobile": "13700003333"},
                          headers=bearer(client, "rm1"))
    request_id = response.json["change_request"]
    direct = client.put(f"/api/v1/customer/{cid}", json={"mobile": "13700004444"},
                        headers=bearer(client, "bm1"))
    assert direct.status_code == 200  # a checker's edit applies at once
    refused = client.post(f"/api/v1/changerequest/{request_id}/approve",
                          headers=bearer(client, "bm1"))
    assert refused.status_code == 409 and "version" in refused.json["message"]
    assert customer_values(app, cid)[1] == "13700004444"
    rejected = client.post(f"/api/v1/changerequest/{request_id}/reject",
                           json={"reason": "已过期"}, headers=bearer(client, "bm1"))
    assert rejected.status_code == 200 and status_of(app, request_id) == "rejected"


def test_reject_without_reason_is_422(app, client, make_customer):
    cid = make_customer(owner="rm1")
    response = client.put(f"/api/v1/customer/{cid}", json={"name": "无理由"},
                          headers=bearer(client, "rm1"))
    request_id = response.json["change_request"]
    refused = client.post(f"/api/v1/changerequest/{request_id}/reject", json={},
                          headers=bearer(client, "bm1"))
    assert refused.status_code == 422 and "reason" in refused.json["message"]
    withdrawn = client.post(f"/api/v1/changerequest/{request_id}/withdraw",
                            headers=bearer(client, "rm1"))
    assert withdrawn.status_code == 200 and status_of(app, request_id) == "withdrawn"


def test_senior_manager_approves_through_the_api(app, client, make_customer):
    cid = make_customer(owner="rm3", branch="B2")
    response = client.put(f"/api/v1/customer/{cid}", json={"risk_tolerance": "C5"},
                          headers=bearer(client, "rm3"))
    request_id = response.json["change_request"]
    approved = client.post(f"/api/v1/changerequest/{request_id}/approve",
                           headers=bearer(client, "senior"))
    assert approved.status_code == 200
    with app.app_context():
        assert db.session.get(Customer, cid).risk_tolerance == "C5"
        db.session.remove()


def test_cookie_authenticated_approval_needs_csrf(app, client, client_as, make_customer):
    cid = make_customer(owner="rm1")
    response = client.put(f"/api/v1/customer/{cid}", json={"name": "饼干批准"},
                          headers=bearer(client, "rm1"))
    request_id = response.json["change_request"]
    refused = client_as("bm1").post(f"/api/v1/changerequest/{request_id}/approve")
    assert refused.status_code == 400
    assert status_of(app, request_id) == "pending"
