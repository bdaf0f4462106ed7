"""The operator screens end to end through the test client (jobs inline, as embedded).

Guards: upload -> mapping -> dry run -> commit; batches above the approval size wait for a second
person (not the uploader) and commit when a senior manager approves; the error report is served
to the uploader, approvers and auditors only, and each download is logged; the progress JSON;
which roles reach the import screens at all.
"""
from __future__ import annotations

import io
import re

from sqlalchemy import select

from backoffice.extensions import db
from models import AuditLog
from models.imports import ImportBatch
from tests.imports.conftest import csv_bytes, customers_with_prefix
from tests.support.web import csrf_token

HEADER = ["客户号", "姓名", "手机号", "支行"]


def read(app, fn):
    """Run ``fn()`` in an app context of its own (never held across requests)."""
    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def batch_of(app, pk):
    return read(app, lambda: _plain(db.session.get(ImportBatch, pk)))


def _plain(batch):
    return {"status": batch.status, "created": batch.created_count,
            "rejected": batch.rejected_count, "mapping": dict(batch.mapping),
            "headers": list(batch.headers),
            "approver": batch.approved_by.username if batch.approved_by else None}


def upload(client, data: bytes, name="c.csv", kind="customers", mode="skip_bad"):
    token = csrf_token(client, "/imports/upload")
    response = client.post("/imports/upload", data={
        "csrf_token": token, "kind": kind, "mode": mode,
        "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(re.search(r"/batch/(\d+)/mapping", response.headers["Location"]).group(1))


def post(client, url, **data):
    token = csrf_token(client, "/resetmypassword/form")
    return client.post(url, data={"csrf_token": token, **data})


def map_and_dry_run(app, client, pk):
    """Open the mapping screen, keep the automatic mapping, save it and run the dry run."""
    page = client.get(f"/imports/batch/{pk}/mapping")
    assert page.status_code == 200
    batch = batch_of(app, pk)
    form = {f"col_{i}": batch["mapping"].get(h, "") for i, h in enumerate(batch["headers"])}
    for key in form.values():
        assert not key or f'<option value="{key}" selected' in page.get_data(as_text=True)
    response = post(client, f"/imports/batch/{pk}/mapping", template_name="screens-test", **form)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/imports/batch/{pk}"), response.headers


def test_upload_map_dry_run_commit_and_report(app, cleanup, client_as):
    client = client_as("operator")
    rows = [[f"SCR{i:03d}", f"屏幕{i}", f"1391111{i:04d}", "B1"] for i in range(5)]
    rows.append(["SCR999", "坏手机", "12345", "B1"])
    pk = upload(client, csv_bytes(HEADER, rows))
    map_and_dry_run(app, client, pk)
    batch = batch_of(app, pk)
    assert (batch["status"], batch["created"], batch["rejected"]) == ("dry_run", 5, 1)
    assert read(app, lambda: customers_with_prefix("SCR")) == []  # the dry run wrote nothing
    assert "import-progress" in client.get(f"/imports/batch/{pk}").get_data(as_text=True)
    assert post(client, f"/imports/batch/{pk}/run/commit").status_code == 302
    assert batch_of(app, pk)["status"] == "committed"
    assert len(read(app, lambda: customers_with_prefix("SCR"))) == 5
    progress = client.get(f"/imports/batch/{pk}/progress").json
    assert progress["status"] == "committed" and progress["created"] == 5

    # Batch ids can come round again on SQLite (a deleted batch's id is reused), and the log
    # keeps the downloads of earlier tests' batches: count only this test's.
    log_before = read(app, lambda: db.session.scalar(select(db.func.max(AuditLog.id)))) or 0
    report = client.get(f"/imports/report/{pk}")
    assert report.status_code == 200 and report.data[:2] == b"PK"
    assert client_as("auditor").get(f"/imports/report/{pk}").status_code == 200
    for username in ("teller1", "rm1", "admin"):
        assert client_as(username).get(f"/imports/report/{pk}").status_code in (302, 403, 404)
    downloads = read(app, lambda: db.session.execute(select(AuditLog.id).where(
        AuditLog.action == "import_report_download", AuditLog.entity_id == str(pk),
        AuditLog.id > log_before)).all())
    assert len(downloads) == 2
    assert "13911110000" not in client.get(f"/imports/batch/{pk}").get_data(as_text=True)


def test_big_batch_waits_for_a_second_person(app, cleanup, client_as):
    app.config["CRM_IMPORT_APPROVAL_ROWS"] = 2
    try:
        client = client_as("operator")
        rows = [[f"APR{i:03d}", f"审批{i}", "", "B1"] for i in range(3)]
        pk = upload(client, csv_bytes(HEADER, rows))
        map_and_dry_run(app, client, pk)
        post(client, f"/imports/batch/{pk}/run/commit")
        assert batch_of(app, pk)["status"] == "pending_approval"
        assert read(app, lambda: customers_with_prefix("APR")) == []
        # the uploader holds no approval right
        assert post(client, f"/imports/batch/{pk}/decide/approve").status_code in (302, 403, 404)
        assert batch_of(app, pk)["status"] == "pending_approval"
        senior = client_as("senior")
        assert post(senior, f"/imports/batch/{pk}/decide/approve").status_code == 302
        batch = batch_of(app, pk)
        assert (batch["status"], batch["approver"]) == ("committed", "senior")
        assert len(read(app, lambda: customers_with_prefix("APR"))) == 3
    finally:
        app.config.pop("CRM_IMPORT_APPROVAL_ROWS", None)


def test_roles_reach_only_their_import_screens(app, cleanup, client_as):
    """The admin imports the bank's set-up (branches, staff, products), never customer data;
    operators the customer data, never the set-up."""
    for username, allowed in (("operator", True), ("auditor", True), ("senior", True),
                              ("teller1", False), ("rm1", False), ("admin", True)):
        status = client_as(username).get("/imports/").status_code
        assert (status == 200) == allowed, (username, status)
    assert client_as("auditor").get("/imports/upload").status_code != 200
    kinds = {username: set(re.findall(r'<option value="(\w+)">', client_as(username).get(
        "/imports/upload").get_data(as_text=True))) & {"customers", "accounts", "transactions",
                                                       "interactions", "branches", "staff",
                                                       "products"}
             for username in ("admin", "operator")}
    assert kinds == {"admin": {"branches", "staff", "products"},
                     "operator": {"customers", "accounts", "transactions", "interactions"}}


def test_xlsx_sheet_choice_on_the_mapping_screen(app, cleanup, client_as):
    """A workbook's sheets are offered on the mapping screen; choosing another sheet re-reads
    its headers and mapping, and the dry run then reads that sheet's rows."""
    from openpyxl import Workbook

    workbook = Workbook()
    notes = workbook.active
    notes.title = "说明"
    notes.append(["这是说明页"])
    data_sheet = workbook.create_sheet("客户")
    data_sheet.append(HEADER)
    for i in range(3):
        data_sheet.append([f"SHT{i:03d}", f"表单{i}", f"1392222{i:04d}", "B1"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    client = client_as("operator")
    pk = upload(client, buffer.getvalue(), name="two-sheets.xlsx")
    page = client.get(f"/imports/batch/{pk}/mapping").get_data(as_text=True)
    assert 'name="sheet"' in page and '<option value="客户"' in page
    # The upload took the sheet with recognised headers, not the note before it; choosing
    # another sheet re-reads that one.
    assert batch_of(app, pk)["headers"] == HEADER
    assert read(app, lambda: db.session.get(ImportBatch, pk).sheet) == "客户"
    post(client, f"/imports/batch/{pk}/mapping", sheet="说明")
    assert batch_of(app, pk)["headers"] == ["这是说明页"]
    response = post(client, f"/imports/batch/{pk}/mapping", sheet="客户")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/imports/batch/{pk}/mapping")
    batch = batch_of(app, pk)
    assert batch["headers"] == HEADER and read(app, lambda: db.session.get(
        ImportBatch, pk).sheet) == "客户"
    assert batch["mapping"]["客户号"] == "customer_no"
    map_and_dry_run(app, client, pk)
    assert (batch_of(app, pk)["status"], batch_of(app, pk)["created"]) == ("dry_run", 3)
    assert 'selected>客户</option>' in client.get(
        f"/imports/batch/{pk}/mapping").get_data(as_text=True).replace('" selected', ' selected')
