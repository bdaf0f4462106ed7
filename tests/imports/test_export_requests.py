"""Exports above the cap: asked for, decided by a second person in scope, downloaded once by the
requester with the requester's own scope, masks and stamp, and logged with the row ids."""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from models.audit import AuditLog
from models.imports import ExportRequest
from tests.customers.test_exports import last_export, read_csv
from tests.support.web import csrf_token

LIST = "/customers/export/csv?_flt_0_name=客户c_rm"
ANY_FORM = "/resetmypassword/form"  # every role has it: a CSRF token for any role's POST
DENIED = (302, 403, 404)  # FAB's answers to a role without the screen's permission


def ask(app, client, reason="季度客户回访名单") -> ExportRequest:
    """Export above the cap, follow to the request form, send it; the new request."""
    response = client.get(LIST)
    assert response.status_code == 302
    form_url = response.headers["Location"]
    assert "/exportrequests/ask" in form_url
    page = client.get(form_url)
    assert page.status_code == 200
    token = csrf_token(client, form_url)
    sent = client.post(form_url, data={"csrf_token": token, "reason": reason})
    assert sent.status_code == 302
    with app.app_context():
        entry = db.session.scalars(select(ExportRequest).order_by(
            ExportRequest.id.desc())).first()
        db.session.expunge(entry)
    return entry


def decide(client, entry_id: int, decision: str):
    token = csrf_token(client, ANY_FORM)
    return client.post(f"/exportrequests/decide/{entry_id}/{decision}",
                       data={"csrf_token": token})


def fresh(app, entry_id: int, **changes) -> ExportRequest:
    """The request as stored now (after applying ``changes`` to it)."""
    with app.app_context():
        entry = db.session.get(ExportRequest, entry_id)
        for name, value in changes.items():
            setattr(entry, name, value)
        db.session.commit()
        db.session.refresh(entry)
        db.session.expunge(entry)
    return entry


def test_request_holds_the_list_the_count_and_the_requester(app, world, client_as, capped):
    client = client_as("rm1")
    entry = ask(app, client)
    assert entry.status == "pending" and entry.fmt == "csv"
    assert entry.endpoint == "CustomerView" and entry.row_count == 1  # rm1 sees c_rm1 only
    assert entry.requested_by_id == world.staff["rm1"]
    assert entry.args == {"_flt_0_name": ["客户c_rm"]}
    with app.app_context():
        logged = db.session.scalars(select(AuditLog).where(
            AuditLog.action == "export_request").order_by(AuditLog.id.desc())).first()
        assert logged.entity_id == str(entry.id)


def test_a_reason_is_required(app, world, client_as, capped):
    client = client_as("rm1")
    form_url = client.get(LIST).headers["Location"]

    def requests_count():
        with app.app_context():
            return db.session.scalar(select(db.func.count()).select_from(ExportRequest))

    before = requests_count()
    response = client.post(form_url, data={"csrf_token": csrf_token(client, form_url),
                                           "reason": "  "})
    assert response.status_code == 200
    assert requests_count() == before


@pytest.mark.parametrize("decider", ["rm1", "rm2", "bm2", "teller1", "operator", "auditor"])
def test_only_a_second_person_in_scope_may_decide(app, world, client_as, capped, decider):
    """The requester, peers without approval rights and the other branch's manager: 404."""
    entry = ask(app, client_as("rm1"))
    response = decide(client_as(decider), entry.id, "approve")
    assert response.status_code in DENIED and fresh(app, entry.id).status == "pending"
    if response.status_code == 302:  # no permission on the screen at all: FAB's redirect
        assert "/exportrequests" not in response.headers["Location"]


@pytest.mark.parametrize("decider", ["bm1", "senior"])
def test_branch_manager_and_senior_manager_approve(app, world, client_as, capped, decider):
    entry = ask(app, client_as("rm1"))
    page = client_as(decider).get("/exportrequests/")
    assert f"<td>{entry.id}</td>" in page.get_data(as_text=True)
    assert decide(client_as(decider), entry.id, "approve").status_code == 302
    decided = fresh(app, entry.id)
    assert decided.status == "approved" and decided.decided_by_id == world.staff[decider]


def test_branch_manager_cannot_decide_for_staff_without_their_branch(app, world, client_as,
                                                                     capped):
    entry = ask(app, client_as("senior"))
    assert decide(client_as("bm1"), entry.id, "approve").status_code == 404
    assert fresh(app, entry.id).status == "pending"


def test_approved_export_downloads_once_with_the_requesters_scope_and_masks(
        app, world, client_as, capped):
    requester = client_as("rm1")
    entry = ask(app, requester)
    decide(client_as("bm1"), entry.id, "approve")
    before = last_export(app)
    response = requester.get(f"/exportrequests/download/{entry.id}")
    assert response.status_code == 302
    target = response.headers["Location"]
    assert urlsplit(target).path == "/customers/export/csv"
    assert parse_qs(urlsplit(target).query)["export_request"] == [str(entry.id)]
    download = requester.get(target)
    assert download.status_code == 200
    rows = read_csv(download)
    assert "rm1" in rows[0][0]  # stamped with the requester
    text = download.get_data().decode("utf-8-sig")
    assert "客户c_rm1" in text and "客户c_rm2" not in text and "客户c_rm3" not in text
    assert "c_rm1@example.com" not in text  # masked as on rm1's screen
    logged = last_export(app)
    assert logged.id != (before.id if before else None)
    assert logged.actor_username == "rm1"
    assert f'"ids":[{world.customers["c_rm1"]}]' in logged.detail.replace(" ", "")
    assert fresh(app, entry.id).status == "used"
    again = requester.get(target)
    assert again.status_code == 302 and last_export(app).id == logged.id  # once only
    assert requester.get(f"/exportrequests/download/{entry.id}").status_code == 302


def test_other_people_cannot_use_an_approval(app, world, client_as, capped):
    entry = ask(app, client_as("rm1"))
    decide(client_as("senior"), entry.id, "approve")
    before = last_export(app)
    assert client_as("rm2").get(f"/exportrequests/download/{entry.id}").status_code == 404
    stolen = client_as("bm1").get(f"/customers/export/csv?_flt_0_name=客户c_rm"
                                  f"&export_request={entry.id}")
    assert stolen.status_code == 302
    assert (last_export(app).id if last_export(app) else None) == (before.id if before else None)
    assert fresh(app, entry.id).status == "approved"


def test_rejected_expired_grown_or_changed_lists_are_refused(app, world, client_as, capped):
    requester = client_as("rm1")
    rejected = ask(app, requester)
    decide(client_as("bm1"), rejected.id, "reject")
    assert fresh(app, rejected.id).status == "rejected"
    assert requester.get(f"/exportrequests/download/{rejected.id}").status_code == 302

    def approved():
        entry = ask(app, requester)
        decide(client_as("bm1"), entry.id, "approve")
        return fresh(app, entry.id)

    before = last_export(app)
    expired = approved()
    expired = fresh(app, expired.id, decided_at=expired.decided_at - dt.timedelta(days=2))
    grown = fresh(app, approved().id, row_count=0)
    other = approved()
    changed_list = f"/customers/export/csv?_flt_0_name=客户&export_request={other.id}"
    for entry, url in ((expired, None), (grown, None), (other, changed_list)):
        url = url or f"{LIST}&export_request={entry.id}"
        assert requester.get(url).status_code == 302
        assert fresh(app, entry.id).status == "approved"
    assert (last_export(app).id if last_export(app) else None) == (before.id if before else None)


@pytest.mark.parametrize("username", ["teller1", "operator", "auditor", "admin"])
def test_roles_without_exports_cannot_ask(app, world, client_as, capped, username):
    response = client_as(username).get(
        "/exportrequests/ask?view=CustomerView&fmt=csv")
    assert response.status_code in DENIED
    if response.status_code == 302:
        assert "/exportrequests" not in response.headers["Location"]
