"""The navigation bar's search box: a read of customer data like any list.

For every role, a search finds exactly the customers of its record scope, by customer number,
name prefix, ID number and mobile (the last two exactly, through the blind indexes), and answers
a search for a customer outside the scope exactly as it answers one for a customer who does not
exist: no hit, no count, no different message. Hits show what the policy lets the viewer see
(ID number and mobile masked). Enter opens the 360 page of a single hit. Bad input is a 400
with a message. Each search is on record in the operation log, with sensitive queries masked.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.security.masking import mask_value
from models.audit import AuditLog
from tests.support.world import CUSTOMERS, VISIBLE, make_prc_id

SEARCH = "/customers/search/?q="
OPEN = "/customers/search/open?q="
CUSTOMER_ROLES = ("senior", "bm1", "bm2", "rm1", "rm2", "rm3", "teller1")
NO_CUSTOMER_ROLES = ("admin", "operator", "auditor")


@pytest.fixture
def identity(app, world):
    """``identity(key)``: one customer's current values (other tests may have changed a mobile,
    so they are read, not recomputed from the seed)."""
    from models import Customer

    def _values(key: str) -> dict:
        with app.app_context():
            customer = db.session.get(Customer, world.customers[key],
                                      execution_options={"crm_unscoped": True})
            values = {"customer_no": customer.customer_no, "name": customer.name,
                      "id_number": customer.id_number, "mobile": customer.mobile}
            db.session.remove()
        assert all(values.values()), values
        return values

    return _values


def search(client, text: str):
    response = client.get(SEARCH + quote(text))
    assert response.status_code == 200, (text, response.status_code, response.get_data()[:300])
    return response.get_json()


def hit_numbers(answer) -> set[str]:
    return {hit["customer_no"] for hit in answer["results"]}


@pytest.fixture(scope="module")
def clients(app, world):
    from tests.support.web import login

    made = {}
    for username in CUSTOMER_ROLES + NO_CUSTOMER_ROLES:
        client = app.test_client()
        assert login(client, username).status_code == 302
        made[username] = client
    return made


@pytest.mark.parametrize("username", CUSTOMER_ROLES)
@pytest.mark.parametrize("kind", ["customer_no", "id_number", "mobile", "name"])
def test_each_role_finds_exactly_its_scope(clients, world, username, kind, identity):
    client = clients[username]
    nobody = search(client, {"customer_no": "T999999999", "id_number": make_prc_id(
        dt.date(1999, 9, 9), 77), "mobile": "13900000000", "name": "无此人"}[kind])
    assert nobody["results"] == [] and nobody["more"] is False
    for key in CUSTOMERS:
        answer = search(client, identity(key)[kind])
        if key in VISIBLE[username]:
            assert hit_numbers(answer) == {identity(key)["customer_no"]}, (key, answer)
            assert answer["results"][0]["matched"] == kind
            assert answer["results"][0]["url"] == f"/customers/show/{world.customers[key]}"
        else:
            # Out of scope reads exactly like a value nobody holds: no hit, no count, no hint.
            assert answer == nobody, (key, answer)


@pytest.mark.parametrize("username", CUSTOMER_ROLES)
def test_name_prefix_lists_only_the_scope(clients, username, identity):
    answer = search(clients[username], "客户c_RM")  # case-insensitive prefix
    assert hit_numbers(answer) == {identity(k)["customer_no"] for k in VISIBLE[username]}
    assert answer["more"] is False
    assert all(hit["matched"] == "name" for hit in answer["results"])


def test_like_wildcards_are_literal(clients):
    senior = clients["senior"]
    assert search(senior, "客户_")["results"] == []  # "_" is not "any character"
    assert search(senior, "客户%")["results"] == []
    assert search(senior, "%")["results"] == []


def test_more_says_there_are_more_in_scope_without_a_count(clients, monkeypatch):
    from backoffice.customers import search as module

    monkeypatch.setattr(module, "PAGE", 2)
    senior = search(clients["senior"], "客户")
    assert len(senior["results"]) == 2 and senior["more"] is True
    assert "3" not in senior["message"]  # no total anywhere
    bm2 = search(clients["bm2"], "客户")  # one customer in B2: nothing more to hint at
    assert len(bm2["results"]) == 1 and bm2["more"] is False


def test_id_number_and_mobile_match_exactly_through_the_blind_index(clients, identity):
    rm2 = clients["rm2"]
    values = identity("c_rm2")
    spaced = f"{values['mobile'][:3]} {values['mobile'][3:7]} {values['mobile'][7:]}"
    full_width = values["id_number"].translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
    for text in (values["id_number"], values["id_number"].lower(), full_width,
                 values["mobile"], spaced, "+86" + values["mobile"]):
        assert hit_numbers(search(rm2, text)) == {values["customer_no"]}, text
    # Partial values never match (exact match only): the answer says to type the whole value.
    for partial in (values["id_number"][:-1], values["mobile"][:-1], values["mobile"][:7]):
        answer = search(rm2, partial)
        assert answer["results"] == [] and answer["message"], partial


def test_blind_index_is_the_compared_column(app):
    from sqlalchemy.dialects import sqlite

    from models import Customer

    with app.app_context():
        sql = str(select(Customer.id).where(Customer.mobile == "13800130002").compile(
            dialect=sqlite.dialect()))
    assert "mobile_bidx" in sql and "mobile_enc" not in sql


@pytest.mark.parametrize("username", CUSTOMER_ROLES)
def test_hits_show_masked_id_and_mobile(clients, username, identity):
    for key in VISIBLE[username]:
        values = identity(key)
        response = clients[username].get(SEARCH + quote(values["name"]))
        body = response.get_data(as_text=True)
        assert values["id_number"] not in body and values["mobile"] not in body
        hit = response.get_json()["results"][0]
        assert hit["id_number"] == mask_value("id_number", values["id_number"])
        assert hit["mobile"] == mask_value("mobile", values["mobile"])


def test_teller_sees_no_deep_profile_or_address(clients):
    body = clients["teller1"].get(SEARCH + quote("客户c_rm2")).get_data(as_text=True)
    for secret in ("北京市东城区", "家庭备注", "投资备注", "987654", "1234567"):
        assert secret not in body


@pytest.mark.parametrize("username", NO_CUSTOMER_ROLES)
def test_roles_without_customers_cannot_search(clients, username):
    client = clients[username]
    for url in (SEARCH + "T000000001", OPEN + "T000000001", SEARCH + "客户"):
        response = client.get(url)
        assert response.status_code in (302, 403, 404), (url, response.status_code)
        assert "客户c_rm" not in response.get_data(as_text=True)
    assert 'id="crm-search"' not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("username", CUSTOMER_ROLES)
def test_the_box_is_in_the_navigation_bar(clients, username):
    page = clients[username].get("/").get_data(as_text=True)
    assert 'id="crm-search"' in page and 'id="crm-search-input"' in page
    assert "/static/crm-search.js" in page


def test_enter_opens_the_360_page_of_a_single_hit(clients, world, identity):
    response = clients["teller1"].get(OPEN + "T000000002")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/customers/show/{world.customers['c_rm2']}")
    by_mobile = clients["rm1"].get(OPEN + identity("c_rm1")["mobile"])
    assert by_mobile.headers["Location"].endswith(f"/customers/show/{world.customers['c_rm1']}")


def test_enter_without_a_single_hit_lists_or_says_none(clients, identity):
    several = clients["bm1"].get(OPEN + quote("客户c_rm"))
    assert several.status_code == 200
    body = several.get_data(as_text=True)
    assert 'id="crm-search-results"' in body and "T000000001" in body and "T000000002" in body
    assert "T000000003" not in body
    outside = clients["rm1"].get(OPEN + "T000000003")  # c_rm3: rm3's customer
    nobody = clients["rm1"].get(OPEN + "T999999999")
    assert outside.status_code == nobody.status_code == 200
    assert "客户c_rm3" not in outside.get_data(as_text=True)
    assert 'id="crm-search-message"' in outside.get_data(as_text=True)
    # An ID number typed is not echoed back into the page.
    id_number = identity("c_rm3")["id_number"]
    assert id_number not in clients["rm1"].get(OPEN + id_number).get_data(as_text=True)


@pytest.mark.parametrize("bad", ["客户\u202e", "a" * 41, "T0001\u200b"])
def test_bad_input_is_a_400_with_a_message(clients, bad):
    response = clients["senior"].get(SEARCH + quote(bad))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert response.get_json()["error"] and "Traceback" not in body
    page = clients["senior"].get(OPEN + quote(bad))
    assert page.status_code == 400 and 'id="crm-search-problem"' in page.get_data(as_text=True)


def test_empty_query_finds_nothing_and_logs_nothing(app, clients):
    before = _last_log_id(app)
    answer = search(clients["senior"], "   ")
    assert answer == {"results": [], "more": False, "message": ""}
    assert _last_log_id(app) == before


def _last_log_id(app) -> int:
    with app.app_context():
        value = db.session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1))
        db.session.remove()
    return value or 0


def test_each_search_is_logged_with_sensitive_queries_masked(app, clients, world, identity):
    since = _last_log_id(app)
    values = identity("c_rm2")
    search(clients["rm2"], values["id_number"])
    search(clients["rm2"], values["mobile"])
    search(clients["rm2"], "客户c")
    search(clients["rm1"], values["id_number"])  # out of scope: logged, nothing returned
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.id > since,
                                                         AuditLog.action == "search")
                                  .order_by(AuditLog.id)).all()
        found = [(row.actor_username, row.entity, row.detail) for row in rows]
        db.session.remove()
    assert [actor for actor, _entity, _detail in found] == ["rm2", "rm2", "rm2", "rm1"]
    assert all(entity == "Customer" for _actor, entity, _detail in found)
    text = " ".join(str(detail) for _actor, _entity, detail in found)
    assert values["id_number"] not in text and values["mobile"] not in text
    assert mask_value("id_number", values["id_number"]) in text
    assert mask_value("mobile", values["mobile"]) in text
    details = [_as_dict(detail) for _actor, _entity, detail in found]
    assert details[0]["ids"] == [world.customers["c_rm2"]] and details[0]["returned"] == 1
    assert details[2]["query"] == {"search": "客户c"}
    assert details[3]["ids"] == [] and details[3]["returned"] == 0


def _as_dict(detail):
    import json

    return detail if isinstance(detail, dict) else json.loads(detail)
