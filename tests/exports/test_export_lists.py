"""Every list the export request form offers (every exportable list screen) goes the whole way:
asked above the cap, approved by a second person, downloaded once, refused the second time.

Transactions failed here before: their read-only screen names its ``base_permissions`` and so
refused its own export to every role granted ``can_export``.
"""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from tests.customers.test_exports import last_export, read_csv
from tests.imports.test_export_approval_scope import ask
from tests.imports.test_export_requests import decide, fresh


def exportable_lists(app) -> list[tuple[str, str]]:
    """(endpoint, route base) of every list with an export, found from the app itself."""
    return sorted({(view.endpoint, view.route_base) for view in app.appbuilder.baseviews
                   if getattr(view, "exportable", False)})


def test_the_lists_include_transactions(app):
    assert ("TransactionView", "/transactions") in exportable_lists(app)


def _lists():
    return ["AccountView", "ComplaintView", "ConsentView", "CustomerView", "FollowUpView",
            "GreetingDispatchView", "InteractionView", "LoanApplicationView", "MyTasksView",
            "TransactionView"]


def test_every_exportable_list_is_covered_below(app):
    """A new exportable list fails here until it is added to the end-to-end run."""
    assert [endpoint for endpoint, _ in exportable_lists(app)] == sorted(_lists())


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("endpoint", _lists())
def test_request_approve_download_once(app, world, client_as, capped, endpoint, fmt):
    route = dict(exportable_lists(app))[endpoint]
    requester = client_as("rm1")
    entry = ask(app, requester, f"{route}/export/{fmt}")
    assert entry.endpoint == endpoint and entry.fmt == fmt and entry.row_count >= 1
    assert decide(client_as("bm1"), entry.id, "approve").status_code == 302
    target = requester.get(f"/exportrequests/download/{entry.id}").headers["Location"]
    download = requester.get(target)
    assert download.status_code == 200, download.get_data(as_text=True)[-500:]
    if fmt == "csv":
        rows = read_csv(download)
    else:
        sheet = load_workbook(io.BytesIO(download.data)).active
        rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert "rm1" in str(rows[0][0])  # the stamp
    assert len(rows) == 2 + entry.row_count  # stamp, headers, the approved rows
    logged = last_export(app)
    assert logged.actor_username == "rm1" and fresh(app, entry.id).status == "used"
    again = requester.get(target)
    assert again.status_code == 302 and last_export(app).id == logged.id
    assert requester.get(f"/exportrequests/download/{entry.id}").status_code == 302
    assert last_export(app).id == logged.id
