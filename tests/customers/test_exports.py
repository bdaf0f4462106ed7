"""List exports: the user's scope, the screen's masks, a stamp, a cap, and a log row with ids."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook
from sqlalchemy import select

from backoffice.extensions import db


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def last_export(app):
    from models.audit import AuditLog

    with app.app_context():
        return db.session.scalars(select(AuditLog).where(AuditLog.action == "export")
                                  .order_by(AuditLog.id.desc())).first()


def test_csv_export_is_scoped_masked_stamped_and_logged(app, world, client_as):
    response = client_as("rm1").get("/customers/export/csv?_flt_0_name=客户c_rm")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=customer-rm1-")
    rows = read_csv(response)
    assert "rm1" in rows[0][0]  # "exported by rm1 at <time>"
    text = "\n".join(",".join(row) for row in rows)
    assert "T000000001" in text and "T000000002" not in text and "T000000003" not in text
    entry = last_export(app)
    assert entry.actor_username == "rm1" and entry.entity == "Customer"
    assert f"{world.customers['c_rm1']}" in entry.detail


def test_xlsx_export_masks_account_numbers_and_withholds_deep_profile(app, world, client_as):
    response = client_as("bm1").get("/accounts/export/xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    # Balances are numeric cells: shown as the sheet displays them (#,##0.00).
    cells = [f"{c.value:,.2f}" if c.data_type == "n" and isinstance(c.value, float)
             else str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    text = " ".join(cells)
    assert "6222000000000000001" not in text and "6222*" in text
    assert "1,234,567.89" not in text  # c_rm1 is private banking: bm1 may not see it
    assert "2,469,135.78" in text  # c_rm2 is an ordinary customer of bm1's branch


def test_tellers_cannot_export(world, client_as):
    response = client_as("teller1").get("/customers/export/csv")
    assert response.status_code != 200


def test_exports_above_the_cap_are_refused_and_not_logged(app, world, client_as):
    before = last_export(app)
    app.config["CRM_EXPORT_MAX_ROWS"] = 0
    try:
        response = client_as("senior").get("/customers/export/csv")
    finally:
        app.config.pop("CRM_EXPORT_MAX_ROWS")
    assert response.status_code == 302
    after = last_export(app)
    assert (after.id if after else None) == (before.id if before else None)


def test_unknown_format_and_non_exportable_screens_are_404(world, client_as):
    client = client_as("senior")
    assert client.get("/customers/export/pdf").status_code == 404
    assert client.get("/branches/export/csv").status_code in (302, 403, 404)
