"""Custom fields in maker-checker: the diff a maker, reviewer or senior manager reads shows a
sensitive custom value masked like the built-in ones (never its ciphertext), labels rows with the
field's label, leaves out fields the viewer's role may not see; the operation log and the
auditor's export keep masks only; a new customer's sealed custom value opens after approval."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from models import ChangeRequest, Customer
from models.audit import AuditLog
from tests.support.web import api_token, csrf_token, post_form
from tests.support.world import make_prc_id

REQUEST_URL = re.compile(r"/review/show/(\d+)")
MOBILE, MASKED = "13912340000", "139****0000"


@pytest.fixture
def define(app):
    """Definitions made for one test, deleted afterwards (tests only; screens never delete)."""
    from models.fields import CustomFieldDefinition

    made: list[int] = []

    def make(stem, **attrs) -> str:
        key = f"{stem}_{uuid.uuid4().hex[:6]}"
        attrs.setdefault("entity", "customer")
        with app.app_context():
            definition = CustomFieldDefinition(key=key, **attrs)
            db.session.add(definition)
            db.session.commit()
            made.append(definition.id)
            db.session.remove()
        return key

    yield make
    with app.app_context(), db.engine.begin() as connection:
        table = CustomFieldDefinition.__table__
        connection.execute(table.delete().where(table.c.id.in_(made)))


def bearer(client, username):
    return {"Authorization": f"Bearer {api_token(client, username)}"}


def proposed_custom(app, request_id) -> dict:
    with app.app_context():
        values = db.session.get(ChangeRequest, request_id).values
        db.session.remove()
    return values.get("custom_fields") or {}


def diff_of(client, username, request_id) -> dict:
    """The API diff rows of a request as ``username`` reads them, by field name."""
    response = client.get(f"/api/v1/changerequest/{request_id}",
                          headers=bearer(client, username))
    assert response.status_code == 200, (username, response.json)
    return {row["field"]: row for row in response.json["result"]["diff"]}


def test_diff_masks_sensitive_custom_values_and_labels_them_for_every_role(
        app, client, client_as, define, make_customer):
    mobile = define("emergency_mobile", field_type="mobile", label_zh="紧急联系手机",
                    label_en="Emergency mobile", sensitive=True, reviewed=True)
    note = define("desk_note", field_type="text", label_zh="柜面备注", label_en="Desk note",
                  visible_roles=["RelationshipManager", "SeniorManager"])
    cid = make_customer(owner="rm1")
    filed = client.put(f"/api/v1/customer/{cid}", headers=bearer(client, "rm1"),
                       json={"custom_fields": {mobile: MOBILE, note: "备注甲"}})
    assert filed.status_code == 202, filed.json
    request_id = filed.json["change_request"]
    sealed = proposed_custom(app, request_id)[mobile]
    assert MOBILE not in sealed  # the payload keeps the value sealed

    # who sees the restricted field: the maker (rm1) and the senior manager, not bm1
    for username, sees_note in (("rm1", True), ("bm1", False), ("senior", True)):
        web = client_as(username)
        page = web.get(f"/review/show/{request_id}").get_data(as_text=True)
        assert MASKED in page and MOBILE not in page and sealed not in page, username
        assert "紧急联系手机" in page, username
        assert ("柜面备注" in page) == sees_note and ("备注甲" in page) == sees_note, username
        rows = diff_of(client, username, request_id)
        row = rows[f"custom_fields.{mobile}"]
        assert row["label"] == "紧急联系手机" and row["new"] == MASKED and row["changed"]
        assert row["old"] is None and row["reviewed"] is True
        assert (f"custom_fields.{note}" in rows) == sees_note, username
        listing = web.get("/review/mine/" if username == "rm1" else "/review/pending/")
        text = listing.get_data(as_text=True)
        assert "紧急联系手机" in text and sealed not in text and mobile not in text, username
        assert ("柜面备注" in text) == sees_note, username

    approved = client.post(f"/api/v1/changerequest/{request_id}/approve",
                           headers=bearer(client, "bm1"))
    assert approved.status_code == 200, approved.json
    with app.app_context():
        entries = db.session.scalars(select(AuditLog).where(
            AuditLog.entity == "ChangeRequest", AuditLog.entity_id == str(request_id))).all()
        logged = " ".join(entry.detail or "" for entry in entries)
        stored = db.session.get(Customer, cid).custom_fields[mobile]
        db.session.remove()
    assert f"custom_fields.{mobile}" in logged and MASKED in logged
    assert MOBILE not in logged and sealed not in logged and stored not in logged

    auditor = client_as("auditor")
    for url in (f"/auditlog/list/?_flt_0_entity_id={request_id}", "/auditlog/export/csv"):
        response = auditor.get(url)
        assert response.status_code == 200, url
        text = response.get_data().decode("utf-8-sig")
        assert MOBILE not in text and sealed not in text and stored not in text, url
    exported = auditor.get("/auditlog/export/csv").get_data().decode("utf-8-sig")
    assert MASKED in exported


def test_decided_request_keeps_masking_the_change_it_applied(app, client, client_as, define,
                                                             make_customer):
    """After approval the diff has no "current value" any more: the proposal stays masked."""
    mobile = define("backup_mobile", field_type="mobile", label_zh="备用手机",
                    label_en="Backup mobile", sensitive=True, reviewed=True)
    cid = make_customer(owner="rm1")
    filed = client.put(f"/api/v1/customer/{cid}", headers=bearer(client, "rm1"),
                       json={"custom_fields": {mobile: MOBILE}})
    request_id = filed.json["change_request"]
    assert client.post(f"/api/v1/changerequest/{request_id}/approve",
                       headers=bearer(client, "bm1")).status_code == 200
    page = client_as("rm1").get(f"/review/show/{request_id}").get_data(as_text=True)
    assert MASKED in page and MOBILE not in page and "备用手机" in page


def test_new_customer_with_a_sensitive_custom_value_opens_after_approval(app, world, client_as,
                                                                         define):
    from backoffice.fields import display
    from backoffice.fields.registry import field_spec

    mobile = define("spouse_mobile", field_type="mobile", label_zh="配偶手机",
                    label_en="Spouse mobile", sensitive=True)
    birth = dt.date(1986, 3, 4)
    name = f"密封新建{uuid.uuid4().hex[:4]}"
    form = {"name": name, "customer_type": "individual", "gender": "F",
            "birth_date": birth.isoformat(), "id_type": "PRC_ID",
            "id_number": make_prc_id(birth, 611, male=False), "mobile": "13600002222",
            "status": "active", "risk_tolerance": "C2", "branch": str(world.branches["B1"]),
            f"cf_{mobile}": "13955556666"}
    response = post_form(client_as("rm1"), "/customers/add", form)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    request_id = int(REQUEST_URL.search(response.location).group(1))

    reviewer = client_as("bm1")
    detail = reviewer.get(f"/review/show/{request_id}").get_data(as_text=True)
    assert "139****6666" in detail and "13955556666" not in detail and "配偶手机" in detail
    token = csrf_token(reviewer, f"/review/show/{request_id}")
    assert reviewer.post(f"/review/approve/{request_id}",
                         data={"csrf_token": token}).status_code == 302
    with app.app_context():
        change = db.session.get(ChangeRequest, request_id)
        created = db.session.scalars(select(Customer).where(Customer.name == name)).one()
        assert change.status == "approved" and created.record_uid == change.record_uid
        spec = field_spec("customer", mobile)
        assert display.typed_value(created, spec) == "13955556666"  # it opens
        created_id = created.id
        creation_log = db.session.scalars(select(AuditLog).where(
            AuditLog.entity == "Customer", AuditLog.entity_id == str(created_id),
            AuditLog.action == "create")).all()
        db.session.remove()
    created_detail = " ".join(entry.detail or "" for entry in creation_log)
    assert "139****6666" in created_detail and "13955556666" not in created_detail
    page = client_as("rm1").get(f"/customers/show/{created_id}").get_data(as_text=True)
    assert "139****6666" in page and "13955556666" not in page
