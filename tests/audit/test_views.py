"""Auditors filter the operation log and export it; the export is itself on record."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from backoffice.audit.log import record
from backoffice.audit.views import EXPORT_COLUMNS
from models.audit import AuditLog
from tests.audit.conftest import last_id, log_rows
from tests.support.world import customer_number

LOG = AuditLog.__table__
EQUAL = 3  # FAB's index of "equal to" among string filters
IS = 0  # actions and record types are picked from a list: "equal to" comes first
FROM, UNTIL = 0, 1  # the time filters, in the display zone


def _ids_on_page(html: str, ids) -> set:
    return {i for i in ids if f"/auditlog/show/{i}" in html}


@pytest.fixture
def sample(app, world):
    """Rows by different actors, about different customers, from different addresses."""
    rows = []
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        rows.append(record("reveal", entity="Customer", entity_id=world.customers["c_rm1"],
                           customer_id=world.customers["c_rm1"], actor="rm1",
                           detail={"field": "mobile", "reason": "客户来电核实"}))
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "10.9.9.9"}):
        rows.append(record("export", entity="Customer", actor="operator",
                           detail={"ids": [1, 2, 3]}))
        rows.append(record("view_360", entity="Customer", entity_id=world.customers["c_rm3"],
                           customer_id=world.customers["c_rm3"], actor="rm3"))
    return rows


def test_only_auditors_reach_the_log(app, world, client_as):
    assert client_as("auditor").get("/auditlog/list/").status_code == 200
    for username in ("rm1", "admin", "senior"):
        response = client_as(username).get("/auditlog/list/")
        assert response.status_code in (302, 403, 404), username
        assert "/auditlog/show/" not in response.get_data(as_text=True)


def test_filters_by_actor_action_customer_entity_ip_and_time(app, world, client_as, sample):
    client = client_as("auditor")
    ids = [r["id"] for r in sample]
    reveal, export, view = ids

    def page(query):
        response = client.get(f"/auditlog/list/?{query}&psize_AuditLogView=100")
        assert response.status_code == 200
        return _ids_on_page(response.get_data(as_text=True), ids)

    assert page(f"_flt_{EQUAL}_actor_username=rm1") == {reveal}
    assert page(f"_flt_{IS}_action=export") >= {export}
    assert reveal not in page(f"_flt_{IS}_action=export")
    assert page(f"_flt_0_customer_id={customer_number(world, 'c_rm3')}") >= {view}
    assert reveal not in page(f"_flt_0_customer_id={customer_number(world, 'c_rm3')}")
    assert page(f"_flt_0_customer_id={world.customers['c_rm1']}&_flt_{IS}_action=reveal") \
        == {reveal}
    assert page(f"_flt_{EQUAL}_ip=10.9.9.9") == {export, view}
    assert page(f"_flt_{IS}_entity=Customer&_flt_{EQUAL}_ip=10.1.2.3") == {reveal}
    # Time bounds are typed in the display zone (Asia/Shanghai, UTC+8), as the list shows them.
    occurred = log_rows(app, LOG.c.id == reveal)[0]["occurred_at"] + dt.timedelta(hours=8)
    start = (occurred - dt.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    end = (occurred + dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert page(f"_flt_{FROM}_occurred_at={start}&_flt_{UNTIL}_occurred_at={end}") == set(ids)
    assert page(f"_flt_{UNTIL}_occurred_at={start}") == set()
    tomorrow = (occurred + dt.timedelta(days=1)).strftime("%Y-%m-%d")
    assert page(f"_flt_{FROM}_occurred_at={tomorrow}") == set()


def test_show_page_has_the_masked_detail_and_hashes(app, world, client_as, sample):
    html = client_as("auditor").get(f"/auditlog/show/{sample[0]['id']}").get_data(as_text=True)
    assert "客户来电核实" in html and sample[0]["row_hash"] in html


def test_csv_export_takes_the_filters_and_is_logged(app, world, client_as, sample):
    client = client_as("auditor")
    since = last_id(app)
    response = client.get(f"/auditlog/export/csv?_flt_{EQUAL}_ip=10.9.9.9")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert table[0][:2] == ["序号", "时间"]  # the screen's labels, in the user's language
    rows = [dict(zip(EXPORT_COLUMNS, line)) for line in table[1:]]
    assert {r["ip"] for r in rows} == {"10.9.9.9"}
    assert {int(r["id"]) for r in rows} >= {sample[1]["id"], sample[2]["id"]}
    assert all(r["row_hash"] and r["prev_hash"] for r in rows)
    logged = [r for r in log_rows(app, LOG.c.id > since) if r["action"] == "audit_export"]
    assert len(logged) == 1
    detail = json.loads(logged[0]["detail"])
    assert detail["count"] == len(rows) and detail["format"] == "csv"
    assert detail["filters"] == [["ip", "eq", ["10.9.9.9"]]]
    assert logged[0]["actor_username"] == "auditor"


def test_xlsx_export(app, world, client_as, sample):
    from openpyxl import load_workbook

    response = client_as("auditor").get(f"/auditlog/export/xlsx?_flt_{EQUAL}_actor_username=rm1")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = list(sheet.values)
    assert values[0][:2] == ("序号", "时间")
    assert sample[0]["id"] in [row[0] for row in values[1:]]
    assert {row[EXPORT_COLUMNS.index("actor_username")] for row in values[1:]} == {"rm1"}


def test_export_needs_the_export_permission(app, world, client_as):
    response = client_as("rm1").get("/auditlog/export/csv")
    assert response.status_code in (302, 403, 404)
