"""Moving a customer to another branch and changing its status are reviewed changes.

For makers (relationship managers, tellers) like every reviewed field, on every write path: the
edit screen, the REST API, the pipelines' use case and imports. A checker writes them directly
within their own scope; a branch manager moving a customer out of their branch files the move for
a checker whose scope covers the new branch (a senior manager), and cannot approve a maker's move
there either. An ``own`` scope never moves a record out of its branch on its own, approval rights
or not.
"""
from __future__ import annotations

import re

import pytest

from backoffice.extensions import db
from backoffice.review import service
from models import ChangeRequest, Customer
from tests.review.test_screens import edit_form
from tests.support.web import api_token, post_form

REQUEST_URL = re.compile(r"/review/show/(\d+)")


def bearer(client, username):
    return {"Authorization": f"Bearer {api_token(client, username)}"}


def state(app, customer_id) -> tuple:
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        values = (customer.branch_id, customer.status, customer.version)
        db.session.remove()
    return values


def request_of(app, request_id) -> ChangeRequest:
    with app.app_context():
        change = db.session.get(ChangeRequest, request_id)
        db.session.expunge(change)
        db.session.remove()
    return change


def put(client, username, customer_id, **values):
    return client.put(f"/api/v1/customer/{customer_id}", headers=bearer(client, username),
                      json=values)


def approve(client, username, request_id):
    return client.post(f"/api/v1/changerequest/{request_id}/approve",
                       headers=bearer(client, username))


# --- REST API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("maker, owner, teller", [("rm1", "rm1", None),
                                                  ("teller1", "rm2", "teller1")])
def test_maker_move_via_api_waits_and_only_a_checker_covering_the_new_branch_approves(
        app, client, world, make_customer, maker, owner, teller):
    cid = make_customer(owner=owner, teller=teller)
    before = state(app, cid)
    filed = put(client, maker, cid, branch=world.branches["B2"])
    assert filed.status_code == 202, filed.json
    assert state(app, cid) == before  # still in B1
    change = request_of(app, filed.json["change_request"])
    assert change.fields == ["branch_id"] and change.branch_id == world.branches["B1"]

    refused = approve(client, "bm1", change.id)  # B2 is outside bm1's scope
    assert refused.status_code == 422, refused.json
    assert "branch" in refused.json["message"] and "customer" not in refused.json["message"]
    assert state(app, cid) == before
    other = approve(client, "bm2", change.id)  # the request is about a B1 customer
    assert other.status_code == 404
    approved = approve(client, "senior", change.id)
    assert approved.status_code == 200, approved.json
    assert state(app, cid)[0] == world.branches["B2"]


@pytest.mark.parametrize("status", ["closed", "deceased", "dormant"])
def test_maker_status_change_via_api_waits_for_a_checker(app, client, make_customer, status):
    cid = make_customer(owner="rm1")
    before = state(app, cid)
    filed = put(client, "rm1", cid, status=status)
    assert filed.status_code == 202, filed.json
    assert state(app, cid) == before
    assert request_of(app, filed.json["change_request"]).fields == ["status"]
    approved = approve(client, "bm1", filed.json["change_request"])
    assert approved.status_code == 200, approved.json
    assert state(app, cid)[1] == status


@pytest.mark.parametrize("checker", ["bm1", "senior"])
def test_checker_changes_status_directly(app, client, make_customer, checker):
    cid = make_customer(owner="rm1")
    response = put(client, checker, cid, status="closed")
    assert response.status_code == 200, response.json
    assert state(app, cid)[1] == "closed"


def test_branch_manager_move_out_of_their_branch_is_filed_for_a_senior_manager(
        app, client, world, make_customer):
    cid = make_customer(owner="rm1")
    before = state(app, cid)
    filed = put(client, "bm1", cid, branch=world.branches["B2"], occupation="搬迁")
    assert filed.status_code == 202, filed.json
    assert state(app, cid) == before
    change = request_of(app, filed.json["change_request"])
    assert set(change.fields) == {"branch_id", "occupation"}  # the whole edit waits
    assert approve(client, "bm1", change.id).status_code == 403  # their own request
    approved = approve(client, "senior", change.id)
    assert approved.status_code == 200, approved.json
    with app.app_context():
        moved = db.session.get(Customer, cid)
        assert (moved.branch_id, moved.occupation) == (world.branches["B2"], "搬迁")
        db.session.remove()


def test_branch_manager_move_within_their_branch_scope_and_senior_move_apply_directly(
        app, client, world, make_customer):
    cid = make_customer(owner="rm1")
    same = put(client, "bm1", cid, branch=world.branches["B1"], occupation="留任")
    assert same.status_code == 200, same.json
    moved = put(client, "senior", cid, branch=world.branches["B2"])
    assert moved.status_code == 200, moved.json
    assert state(app, cid)[0] == world.branches["B2"]


def test_branch_manager_cannot_move_what_they_cannot_see(app, client, world, make_customer):
    cid = make_customer(owner="rm3", branch="B2")
    assert put(client, "bm1", cid, branch=world.branches["B1"]).status_code == 404


# --- edit screen --------------------------------------------------------------------------------


def submit_edit(client, app, customer_id, **changes):
    return post_form(client, f"/customers/edit/{customer_id}",
                     edit_form(app, customer_id, **changes))


@pytest.mark.parametrize("username, changes, field", [
    ("rm1", {"branch": "B2"}, "branch_id"),
    ("rm1", {"status": "deceased"}, "status"),
    ("bm1", {"branch": "B2"}, "branch_id"),
])
def test_screen_edit_that_needs_a_checker_becomes_a_request(app, world, client_as,
                                                             make_customer, username, changes,
                                                             field):
    cid = make_customer(owner="rm1")
    before = state(app, cid)
    changes = {k: str(world.branches[val]) if k == "branch" else val
               for k, val in changes.items()}
    response = submit_edit(client_as(username), app, cid, **changes)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = REQUEST_URL.search(response.location)
    assert match, response.location
    assert state(app, cid) == before
    change = request_of(app, int(match.group(1)))
    assert change.status == "pending" and field in change.fields


def test_screen_edit_by_a_checker_within_scope_applies_at_once(app, client_as, make_customer):
    cid = make_customer(owner="rm1")
    response = submit_edit(client_as("bm1"), app, cid, status="closed")
    assert response.status_code == 302
    assert "/review/" not in response.location
    assert state(app, cid)[1] == "closed"


# --- the pipelines' use case ------------------------------------------------------------------


def test_change_customer_files_moves_and_status_changes_per_role(ctx, staff, world,
                                                                make_customer):
    cid = make_customer(owner="rm1")
    maker = service.change_customer(staff("rm1"), cid, {"status": "closed"})
    assert maker is not None and maker.fields == ["status"]
    move = service.change_customer(staff("bm1"), cid, {"branch_id": world.branches["B2"]})
    assert move is not None and move.fields == ["branch_id"]
    assert db.session.get(Customer, cid).branch_id == world.branches["B1"]
    assert service.change_customer(staff("bm1"), cid, {"status": "dormant"}) is None
    assert service.change_customer(staff("senior"), cid,
                                   {"branch_id": world.branches["B2"]}) is None
    db.session.expire_all()
    customer = db.session.get(Customer, cid)
    assert (customer.branch_id, customer.status) == (world.branches["B2"], "dormant")


def test_own_scope_never_moves_a_record_out_of_its_branch_without_a_checker(
        ctx, staff, world, make_customer, monkeypatch):
    """Even a role with approval rights whose scope is its own book (an admin may make one):
    the move is filed, and an own scope covers no branch."""
    from backoffice.security import scopes

    rm1 = staff("rm1")
    assert not service.covers_branch(scopes.scope_for_user(rm1), world.branches["B1"])
    assert service.covers_branch(scopes.scope_for_user(staff("bm1")), world.branches["B1"])
    assert not service.covers_branch(scopes.scope_for_user(staff("bm1")), world.branches["B2"])
    assert service.covers_branch(scopes.scope_for_user(staff("senior")), world.branches["B2"])
    cid = make_customer(owner="rm1")
    monkeypatch.setattr(service, "needs_review", lambda user: False)  # a checker, own scope
    move = service.change_customer(rm1, cid, {"branch_id": world.branches["B2"]})
    assert move is not None and move.fields == ["branch_id"]
    assert service.change_customer(rm1, cid, {"status": "closed"}) is None  # not a move


def test_reviewed_fields_include_branch_and_status(app):
    with app.app_context():
        names = service.reviewed_fields()
    assert {"branch_id", "status"} <= set(names)


# --- the diff a reviewer reads ------------------------------------------------------------------


def test_diff_labels_the_move_and_the_status_for_the_reviewer(app, client, world,
                                                              make_customer):
    cid = make_customer(owner="rm1")
    filed = put(client, "rm1", cid, branch=world.branches["B2"], status="closed")
    assert filed.status_code == 202, filed.json
    response = client.get(f"/api/v1/changerequest/{filed.json['change_request']}",
                          headers=bearer(client, "senior"))
    assert response.status_code == 200, response.json
    rows = {row["field"]: row for row in response.json["result"]["diff"]}
    assert rows["branch_id"]["old"] == "Test Branch One"
    assert rows["branch_id"]["new"] == "Test Branch Two"
    assert rows["branch_id"]["reviewed"] and rows["status"]["reviewed"]
    assert rows["branch_id"]["label"] not in ("branch_id", "branch")
    assert rows["status"]["label"] != "status" and rows["status"]["new"] != "closed"


# --- imports ------------------------------------------------------------------------------------


@pytest.mark.parametrize("uploader", ["operator"])  # importing customers is the operators' work
def test_import_that_moves_or_closes_a_customer_waits_for_approval(app, world, make_customer,
                                                                   uploader):
    """The dry run lists the move and the status change among the reviewed changes, and the
    commit waits for an approver instead of writing them."""
    from backoffice.imports import pipeline
    from backoffice.imports import service as imports
    from models import ImportBatch, Staff
    from tests.imports.conftest import csv_bytes, remove_batches_data

    cid = make_customer(owner="rm1")
    with app.app_context():
        customer = db.session.get(Customer, cid)
        number, name = customer.customer_no, customer.name
        user = db.session.get(Staff, world.staff[uploader])
        made = []
        try:
            for header, value, field in (("支行", "B2", "branch_id"),
                                         ("状态", "closed", "status")):
                data = csv_bytes(["客户号", "姓名", header], [[number, name, value]])
                batch, _ = imports.upload(db.session, data, "move.csv", "customers",
                                          mode="atomic", user=user)
                made.append(batch.id)
                assert header in batch.mapping, batch.mapping
                summary = pipeline.dry_run(db.session, batch.id)
                assert summary.get("status") != "failed", summary
                batch = db.session.get(ImportBatch, batch.id)
                assert field in batch.dry_run["reviewed"], batch.dry_run
                assert batch.needs_approval
                assert imports.request_commit(db.session, batch, user) == "pending_approval"
        finally:
            db.session.rollback()
            remove_batches_data(made)
            db.session.commit()
            db.session.remove()
    assert state(app, cid)[:2] == (world.branches["B1"], "active")
