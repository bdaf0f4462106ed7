"""Maker-checker through the screens, with CSRF on: makers' edits wait, reviewers see a masked
diff and decide, other branches get 404."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from backoffice.extensions import db
from models import ChangeRequest, Customer
from tests.support.web import csrf_token, post_form
from tests.support.world import make_prc_id

REQUEST_URL = re.compile(r"/review/show/(\d+)")


def edit_form(app, customer_id, **changes) -> dict:
    """The edit form as the screen would post it, sensitive fields left empty (= keep)."""
    with app.app_context():
        c = db.session.get(Customer, customer_id)
        data = {
            "name": c.name, "customer_type": c.customer_type, "gender": c.gender or "",
            "birth_date": c.birth_date.isoformat(), "id_type": c.id_type, "id_number": "",
            "mobile": "", "email": "", "address": "", "occupation": c.occupation or "",
            "risk_tolerance": c.risk_tolerance or "", "status": c.status,
            "branch": str(c.branch_id), "owner": str(c.owner_id or ""),
            "teller": str(c.teller_id or ""), "onboarded_on": "", "risk_assessed_on": "",
            "service_notes": c.service_notes or "", "expected_version": str(c.version),
        }
        db.session.remove()
    data.update(changes)
    return data


def live(app, customer_id):
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        values = (customer.name, customer.mobile, customer.occupation, customer.version)
        db.session.remove()
    return values


def request_of(app, request_id) -> ChangeRequest:
    with app.app_context():
        change = db.session.get(ChangeRequest, request_id)
        db.session.expunge(change)
        db.session.remove()
    return change


def submit_edit(client, app, customer_id, **changes):
    url = f"/customers/edit/{customer_id}"
    return post_form(client, url, edit_form(app, customer_id, **changes))


def test_teller_edit_of_mobile_becomes_a_request_and_the_record_stays(app, client_as,
                                                                      make_customer):
    cid = make_customer(owner="rm2", teller="teller1")
    before = live(app, cid)
    client = client_as("teller1")
    response = submit_edit(client, app, cid, mobile="13912345678")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    request_id = int(REQUEST_URL.search(response.location).group(1))
    assert live(app, cid) == before
    change = request_of(app, request_id)
    assert change.status == "pending" and change.fields == ["mobile"]
    page = client.get(response.location).get_data(as_text=True)
    assert "alert-info" in page and "alert-danger" not in page  # a notice, not an error
    assert "139****5678" in page and "13912345678" not in page  # masked for the maker too
    mine = client.get("/review/mine/").get_data(as_text=True)
    assert f'data-id="{request_id}"' in mine


def test_teller_edit_of_a_non_reviewed_field_applies_at_once(app, client_as, make_customer):
    cid = make_customer(owner="rm2", teller="teller1")
    client = client_as("teller1")
    response = submit_edit(client, app, cid, occupation="医生")
    assert response.status_code == 302
    assert "/review/" not in response.location
    assert live(app, cid)[2] == "医生"


def test_relationship_manager_creates_customer_and_branch_manager_approves(app, world,
                                                                          client_as):
    birth = dt.date(1987, 7, 8)
    name = "审核新建甲"
    form = {"name": name, "customer_type": "individual", "gender": "F",
            "birth_date": birth.isoformat(), "id_type": "PRC_ID",
            "id_number": make_prc_id(birth, 610, male=False), "mobile": "13600001111",
            "status": "active", "risk_tolerance": "C2", "branch": str(world.branches["B1"])}
    response = post_form(client_as("rm1"), "/customers/add", form)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    request_id = int(REQUEST_URL.search(response.location).group(1))
    with app.app_context():
        assert db.session.scalars(select(Customer).where(Customer.name == name)).all() == []
        db.session.remove()

    reviewer = client_as("bm1")
    queue = reviewer.get("/review/pending/").get_data(as_text=True)
    assert f'data-id="{request_id}"' in queue and name in queue
    detail = reviewer.get(f"/review/show/{request_id}").get_data(as_text=True)
    assert "136****1111" in detail and "13600001111" not in detail
    assert 'id="approve-form"' in detail
    token = csrf_token(reviewer, f"/review/show/{request_id}")
    approved = reviewer.post(f"/review/approve/{request_id}", data={"csrf_token": token})
    assert approved.status_code == 302
    with app.app_context():
        created = db.session.scalars(select(Customer).where(Customer.name == name)).one()
        assert created.owner_id == world.staff["rm1"] and created.mobile == "13600001111"
        assert db.session.get(ChangeRequest, request_id).status == "approved"
        db.session.remove()


def test_approve_without_csrf_token_is_refused(app, client_as, make_customer):
    cid = make_customer(owner="rm1")
    response = submit_edit(client_as("rm1"), app, cid, name="无令牌批准")
    request_id = int(REQUEST_URL.search(response.location).group(1))
    refused = client_as("bm1").post(f"/review/approve/{request_id}")
    assert refused.status_code == 400
    assert request_of(app, request_id).status == "pending"


def test_other_branch_and_makers_get_404_on_every_review_route(app, client_as,
                                                               make_customer):
    cid = make_customer(owner="rm1")
    response = submit_edit(client_as("rm1"), app, cid, name="别的支行看不到")
    request_id = int(REQUEST_URL.search(response.location).group(1))
    for username in ("bm2", "rm3", "teller1", "auditor", "admin"):
        client = client_as(username)
        token = csrf_token(client, "/resetmypassword/form")
        assert client.get(f"/review/show/{request_id}").status_code == 404, username
        for action in ("approve", "reject", "withdraw"):
            response = client.post(f"/review/{action}/{request_id}",
                                   data={"csrf_token": token, "reason": "x"})
            assert response.status_code == 404, (username, action)
        pending = client.get("/review/pending/")
        assert "别的支行看不到" not in pending.get_data(as_text=True), username
    assert request_of(app, request_id).status == "pending"
    assert live(app, cid)[0] != "别的支行看不到"


def test_stale_approval_is_refused_on_the_screen(app, client_as, make_customer):
    cid = make_customer(owner="rm1")
    response = submit_edit(client_as("rm1"), app, cid, name="过期修改")
    request_id = int(REQUEST_URL.search(response.location).group(1))
    reviewer = client_as("bm1")
    direct = submit_edit(reviewer, app, cid, occupation="行长直改")  # a checker: applies
    assert "/review/" not in direct.location
    page = reviewer.get(f"/review/show/{request_id}").get_data(as_text=True)
    assert 'id="stale-warning"' in page
    token = csrf_token(reviewer, f"/review/show/{request_id}")
    refused = reviewer.post(f"/review/approve/{request_id}", data={"csrf_token": token},
                            follow_redirects=True)
    assert "alert-danger" in refused.get_data(as_text=True)
    assert live(app, cid)[0] != "过期修改" and live(app, cid)[2] == "行长直改"
    assert request_of(app, request_id).status == "pending"


def test_reject_with_reason_and_maker_sees_it(app, client_as, make_customer):
    cid = make_customer(owner="rm2", teller="teller1")
    maker = client_as("teller1")
    response = submit_edit(maker, app, cid, name="将被拒绝")
    request_id = int(REQUEST_URL.search(response.location).group(1))
    reviewer = client_as("bm1")
    token = csrf_token(reviewer, f"/review/show/{request_id}")
    no_reason = reviewer.post(f"/review/reject/{request_id}", data={"csrf_token": token})
    assert no_reason.status_code == 302 and request_of(app, request_id).status == "pending"
    rejected = reviewer.post(f"/review/reject/{request_id}",
                             data={"csrf_token": token, "reason": "姓名与证件不符"})
    assert rejected.status_code == 302
    assert request_of(app, request_id).status == "rejected"
    page = maker.get(f"/review/show/{request_id}").get_data(as_text=True)
    assert "姓名与证件不符" in page


def test_maker_withdraws_own_request(app, client_as, make_customer):
    cid = make_customer(owner="rm1")
    maker = client_as("rm1")
    response = submit_edit(maker, app, cid, name="撤回测试")
    request_id = int(REQUEST_URL.search(response.location).group(1))
    page = maker.get(f"/review/show/{request_id}").get_data(as_text=True)
    assert 'id="withdraw-form"' in page and 'id="approve-form"' not in page
    token = csrf_token(maker, f"/review/show/{request_id}")
    assert maker.post(f"/review/withdraw/{request_id}",
                      data={"csrf_token": token}).status_code == 302
    assert request_of(app, request_id).status == "withdrawn"


def test_senior_manager_approves_another_branchs_request(app, client_as, make_customer):
    cid = make_customer(owner="rm3", branch="B2")
    response = submit_edit(client_as("rm3"), app, cid, name="总行批准")
    request_id = int(REQUEST_URL.search(response.location).group(1))
    senior = client_as("senior")
    assert f'data-id="{request_id}"' in senior.get("/review/pending/").get_data(as_text=True)
    token = csrf_token(senior, f"/review/show/{request_id}")
    assert senior.post(f"/review/approve/{request_id}",
                       data={"csrf_token": token}).status_code == 302
    assert live(app, cid)[0] == "总行批准"


def test_branch_manager_edit_applies_directly(app, client_as, make_customer):
    cid = make_customer(owner="rm1")
    response = submit_edit(client_as("bm1"), app, cid, name="行长直接改名", mobile="13511112222")
    assert response.status_code == 302 and "/review/" not in response.location
    assert live(app, cid)[:2] == ("行长直接改名", "13511112222")
