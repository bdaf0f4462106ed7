"""Imports obey the field-access policy, and their files are sealed, rotated and purged.

Guards: an operator's file matching an existing customer by ID number learns nothing of that
customer (marker values planted in its name, number, ID number, mobile, a hidden custom field
and its deep profile appear in no page, report, CLI output, job result or stored row); a senior
manager approving sees only what their role may (masked where masked); the mapping offers and
accepts only fields the uploader may write, checked again when the batch runs; a reviewed
change waits for a checker's approval of the batch and is refused at commit without it; stored
files are ciphertext, re-sealed by key rotation, deleted after the retention; the error report
is full for the uploader and masked for an auditor.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.fields import registry
from backoffice.imports import file_keys, pipeline, retention, service
from models import Customer, JobRun, crypto
from models.fields import CustomFieldDefinition
from models.imports import ImportBatch, ImportFile
from tests.imports.conftest import csv_bytes
from tests.imports.test_screens import batch_of, post, read, upload
from tests.support.world import make_prc_id

UNSCOPED = {"crm_unscoped": True}


def _text_of(xlsx: bytes) -> str:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx), read_only=True)
    return "\n".join(str(v) for sheet in book.worksheets
                     for row in sheet.iter_rows(values_only=True) for v in row if v is not None)


@pytest.fixture
def marked(app, world, cleanup):
    """A customer of rm1 (branch B1) holding unique markers, and a hidden custom field."""
    tag = uuid.uuid4().hex[:6].upper()
    serial = int(tag, 16) % 400 + 500
    m = {"name": f"标记姓名{tag}", "customer_no": f"MK{tag}", "mobile": f"1395{serial:03d}8765",
         "id_number": make_prc_id(dt.date(1966, 6, 6), serial), "hidden": f"隐藏值{tag}",
         "income": "765432.19", "key": f"h_{tag.lower()}", "tag": tag}

    def make():
        definition = CustomFieldDefinition(entity="customer", key=m["key"], label_zh=m["key"],
                                           label_en=m["key"], field_type="text",
                                           status="active", visible_roles=["Admin"],
                                           editable_roles=["Admin"])
        db.session.add(definition)
        db.session.commit()
        registry.invalidate()
        customer = Customer(customer_no=m["customer_no"], name=m["name"],
                            customer_type="individual", id_type="PRC_ID",
                            id_number=m["id_number"], mobile=m["mobile"], status="active",
                            branch_id=world.branches["B1"], owner_id=world.staff["rm1"],
                            custom_fields={m["key"]: m["hidden"]}, tier="mass",
                            annual_income=Decimal(m["income"]))
        db.session.add(customer)
        db.session.commit()
        return definition.id, customer.id

    m["definition_id"], m["customer_id"] = read(app, make)
    yield m

    def remove():
        db.session.delete(db.session.get(Customer, m["customer_id"]))
        db.session.delete(db.session.get(CustomFieldDefinition, m["definition_id"]))
        db.session.commit()
        registry.invalidate()

    read(app, remove)


SECRET = ("name", "customer_no", "mobile", "id_number", "hidden", "income")


def assert_none(text: str, m: dict, where: str, keys=SECRET) -> None:
    for key in keys:
        assert m[key] not in text, f"{key} marker leaked in {where}"


def the_file(m: dict) -> bytes:
    """Row 2 matches the marked customer by ID number (new name and mobile: reviewed fields);
    row 3 is a new customer with a bad mobile (rejected, in the error report)."""
    return csv_bytes(["身份证号", "姓名", "手机号", "支行"], [
        [m["id_number"], f"新名{m['tag']}", "13966601234", "B1"],
        [make_prc_id(dt.date(1967, 7, 7), 7), f"坏行{m['tag']}", "12345", "B1"]])


def dry_run_as_operator(app, client, m) -> int:
    pk = upload(client, the_file(m), mode="skip_bad")
    batch = batch_of(app, pk)
    form = {f"col_{i}": batch["mapping"].get(h, "") for i, h in enumerate(batch["headers"])}
    assert post(client, f"/imports/batch/{pk}/mapping", **form).status_code == 302
    return pk


def test_operator_learns_nothing_of_the_matched_customer(app, marked, client_as):
    m = marked
    operator = client_as("operator")
    pk = dry_run_as_operator(app, operator, m)
    batch = batch_of(app, pk)
    assert (batch["status"], batch["rejected"]) == ("dry_run", 1)
    mapping_page = operator.get(f"/imports/batch/{pk}/mapping").get_data(as_text=True)
    batch_page = operator.get(f"/imports/batch/{pk}").get_data(as_text=True)
    assert "import-reviewed" in batch_page  # the reviewed change is listed, values withheld
    assert "—" in batch_page
    report = operator.get(f"/imports/report/{pk}")
    assert report.status_code == 200
    report_text = _text_of(report.data)
    assert f"坏行{m['tag']}" in report_text  # the uploader's own values, in full
    for where, text in (("mapping page", mapping_page), ("batch page", batch_page),
                        ("error report", report_text)):
        assert_none(text, m, where)

    def stored():
        batch = db.session.get(ImportBatch, pk)
        run = db.session.get(JobRun, batch.job_run_id)
        raw = db.session.execute(select(ImportFile.role, ImportFile.content).where(
            ImportFile.batch_id == pk)).all()
        return json.dumps(batch.dry_run, ensure_ascii=False), json.dumps(
            run.result, ensure_ascii=False, default=str), raw

    dry_run_json, job_result, raw = read(app, stored)
    assert_none(dry_run_json, m, "batch.dry_run")
    assert_none(job_result, m, "job result")
    assert {role for role, _ in raw} == {"upload", "report", "preview"}
    for role, content in raw:  # sealed: no plaintext of the file, the report or the preview
        content = bytes(content)
        assert content.startswith(b"v1.")
        for text in (m["name"], m["id_number"], f"坏行{m['tag']}", "13966601234"):
            assert text.encode() not in content, (role, text)


def test_senior_approver_sees_masked_forms_and_approval_applies(app, marked, client_as):
    m = marked
    operator = client_as("operator")
    pk = dry_run_as_operator(app, operator, m)
    assert post(operator, f"/imports/batch/{pk}/run/commit").status_code == 302
    assert batch_of(app, pk)["status"] == "pending_approval"
    senior = client_as("senior")
    page = senior.get(f"/imports/batch/{pk}").get_data(as_text=True)
    masked_mobile = m["mobile"][:3] + "****" + m["mobile"][-4:]
    assert masked_mobile in page and m["mobile"] not in page
    assert_none(page, m, "senior's batch page", ("id_number", "hidden", "income"))
    report_text = _text_of(senior.get(f"/imports/report/{pk}").data)
    assert f"坏行{m['tag']}" not in report_text and "12345" not in report_text
    unchanged = read(app, lambda: db.session.execute(select(Customer.name).where(
        Customer.id == m["customer_id"]).execution_options(**UNSCOPED)).scalar())
    assert unchanged == m["name"]  # nothing applied before the checker's decision
    assert post(senior, f"/imports/batch/{pk}/decide/approve").status_code == 302
    changed = read(app, lambda: db.session.execute(select(Customer.name).where(
        Customer.id == m["customer_id"]).execution_options(**UNSCOPED)).scalar())
    assert changed == f"新名{m['tag']}"


def test_auditor_gets_the_report_masked(app, marked, client_as):
    m = marked
    pk = dry_run_as_operator(app, client_as("operator"), m)
    text = _text_of(client_as("auditor").get(f"/imports/report/{pk}").data)
    assert f"坏行{m['tag']}" not in text and "12345" not in text
    assert "******" in text
    assert "Problems" in text or "问题" in text or "mobile" in text.lower() or "手机" in text


def test_mapping_offers_and_accepts_only_writable_fields(app, marked, client_as):
    m = marked
    operator = client_as("operator")
    pk = upload(operator, the_file(m), mode="skip_bad")
    page = operator.get(f"/imports/batch/{pk}/mapping").get_data(as_text=True)
    assert f'value="{m["key"]}"' not in page  # a hidden custom field is not offered
    assert 'value="name"' in page
    batch = batch_of(app, pk)
    crafted = {f"col_{i}": batch["mapping"].get(h, "") for i, h in enumerate(batch["headers"])}
    crafted["col_1"] = m["key"]  # the name column onto the hidden field
    response = post(operator, f"/imports/batch/{pk}/mapping", **crafted)
    assert response.status_code == 302 and response.headers["Location"].endswith("/mapping")
    assert m["key"] not in batch_of(app, pk)["mapping"].values()
    flashed = operator.get(f"/imports/batch/{pk}/mapping").get_data(as_text=True)
    assert m["key"] in flashed  # the refusal names the field

    def run_with_forged_mapping():  # saved behind the screen's back: refused when it runs
        batch = db.session.get(ImportBatch, pk)
        batch.mapping = {**batch.mapping, "姓名": m["key"]}
        db.session.commit()
        return pipeline.dry_run(db.session, pk)

    summary = read(app, run_with_forged_mapping)
    assert summary["status"] == "failed" and m["key"] in summary["message"]


def test_reviewed_change_without_approval_is_refused_at_commit(app, marked, client_as):
    m = marked
    pk = dry_run_as_operator(app, client_as("operator"), m)

    def commit_skipping_approval():
        batch = db.session.get(ImportBatch, pk)
        batch.needs_approval = False
        db.session.commit()
        return pipeline.commit(db.session, pk)

    summary = read(app, commit_skipping_approval)
    assert summary["updated"] == 0 and summary["rejected"] == 2
    name = read(app, lambda: db.session.execute(select(Customer.name).where(
        Customer.id == m["customer_id"]).execution_options(**UNSCOPED)).scalar())
    assert name == m["name"]


def test_cli_output_shows_nothing_of_the_matched_customer(app, marked, tmp_path):
    m = marked
    path = tmp_path / "cli.csv"
    path.write_bytes(the_file(m))
    report_path = tmp_path / "cli-report.xlsx"
    result = app.test_cli_runner().invoke(args=[
        "crm", "import", str(path), "--kind", "customers", "--dry-run", "--mode", "skip-bad",
        "--report", str(report_path)])
    assert '"rejected": 1' in result.output, result.output
    assert_none(result.output, m, "CLI output")
    assert_none(_text_of(report_path.read_bytes()), m, "CLI report")


def test_files_rotate_to_a_new_key_and_are_purged_after_retention(app, marked, client_as):
    m = marked
    pk = dry_run_as_operator(app, client_as("operator"), m)

    def rotate_and_back():
        old = crypto.current_keyring()
        new = old.with_key("rot2")
        with crypto.using_keyring(new):
            assert file_keys.rotate(db.engine, new) >= 3
            assert set(file_keys.status(db.engine)["import_file.content"]) == {"rot2"}
            assert service.files.load(db.session, pk, "upload") == the_file(m)
        back = new.with_primary(old.primary_kid)
        with crypto.using_keyring(back):
            file_keys.rotate(db.engine, back)
        assert set(file_keys.status(db.engine)["import_file.content"]) == {old.primary_kid}
        assert service.files.load(db.session, pk, "upload") == the_file(m)

    read(app, rotate_and_back)

    def purge():
        kept = retention.purge(db.session, days=90)
        later = retention.purge(db.session, now=dt.datetime.utcnow() + dt.timedelta(days=91),
                                days=90)
        files = db.session.execute(select(ImportFile.id).where(
            ImportFile.batch_id == pk)).all()
        return kept, later, files, db.session.get(ImportBatch, pk).status

    kept, later, files, status = read(app, purge)
    assert pk not in kept["batches"] and pk in later["batches"]
    assert files == [] and status == "dry_run"  # the batch stays, its files are gone
