"""The operator's main job in a real browser: import a spreadsheet, watch it run, fix the rest.

An XLSX of seven customers (three good, four bad for four different reasons) goes through the
import screens: upload, the automatic column mapping, the dry run, the commit, and the error
report download. Two ways the jobs run:

- production (``test_operator_import_on_an_rq_worker``): the screens enqueue on Redis and a
  ``flask crm worker`` process of its own runs each job. The worker is started only once the
  batch page shows the job queued at 0%, so the page is seen polling, and the bar reaching 100%
  with the counts is the page's own doing, not a fresh request's.
- embedded (``test_operator_import_inline``): no Redis, the jobs run inside the request; the
  batch page must still show the bar at 100% and the counts.

The downloaded report is read with openpyxl: the rejected rows' spreadsheet row numbers, their
original values, and one message per problem naming the row and the column. Screenshots:
tests/screenshots/<test>-<step>.png; SCREENSHOTS.md says what each one shows.
"""
from __future__ import annotations

import base64

import datetime as dt
import io
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, func, select

from tests.browser.conftest import serve
from tests.browser.steps import run_burst_worker, sign_in
from tests.support import services
from tests.support.world import make_prc_id

HEADER = ["客户号", "姓名", "手机号", "身份证号", "支行"]
PREFIX = "BRW"
GOOD_ID = make_prc_id(dt.date(1985, 5, 20), 611)
BAD_CHECK_DIGIT = GOOD_ID[:-1] + ("1" if GOOD_ID[-1] == "0" else "0")
ROWS = [  # spreadsheet row numbers 2..8 (row 1 is the header)
    [f"{PREFIX}001", "导入甲", "13911112001", "", "B1"],
    [f"{PREFIX}002", "导入乙", "12345", "", "B1"],                      # row 3: mobile
    [f"{PREFIX}003", "导入丙", "13911112003", "", "B1"],
    [f"{PREFIX}004", "", "13911112004", "", "B1"],                      # row 5: name missing
    [f"{PREFIX}005", "导入戊", "13911112005", "", "B9"],                # row 6: no such branch
    [f"{PREFIX}006", "导入己", "13911112006", BAD_CHECK_DIGIT, "B1"],    # row 7: check digit
    [f"{PREFIX}007", "导入庚", "13911112007", GOOD_ID, "B1"],
]
# row -> (column, words the message must hold); every message also names its row and column.
PROBLEMS = {3: ("手机号", "11 位"), 5: ("姓名", "必填"), 6: ("支行", "没有该代码或名称的支行"),
            7: ("身份证号", "校验位")}
GOOD, BAD = 3, 4


def workbook_bytes() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "客户"
    sheet.append(HEADER)
    for row in ROWS:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def status_label(app, status: str) -> str:
    """The batch status as the operator reads it (Chinese, the default language)."""
    from flask_babel import force_locale

    from backoffice.imports.views import STATUS_LABELS

    with app.test_request_context(), force_locale("zh"):
        return str(STATUS_LABELS[status])


@pytest.fixture
def imported(app, world):
    """Undo everything the test's batches made (customers, undo rows, files, job runs)."""
    from backoffice.extensions import db
    from models import JobRun
    from models.imports import ImportBatch
    from tests.imports.conftest import remove_batches_data

    with app.app_context():
        before_batch = db.session.scalar(select(func.max(ImportBatch.id))) or 0
        before_run = db.session.scalar(select(func.max(JobRun.id))) or 0
        db.session.remove()
    yield
    with app.app_context():
        made = db.session.scalars(select(ImportBatch.id).where(ImportBatch.id > before_batch))
        remove_batches_data(list(made))
        db.session.execute(delete(JobRun).where(JobRun.id > before_run))
        db.session.commit()
        db.session.remove()


@pytest.fixture
def worker_app(app, world, database_url, imported):
    """The back office as in production: jobs go to Redis, on a queue of this test's own."""
    from rq import Queue

    from backoffice import create_app
    from backoffice.audit import chain_key
    from jobs.queue import redis_connection
    from tests.conftest import make_test_config

    redis_url = services.require_redis()
    queue_name = f"crm-browser-{uuid.uuid4().hex}"
    # The session app's chain key: the worker's log rows join the chain every audit test checks.
    key = base64.b64encode(app.extensions[chain_key.EXTENSION]).decode()
    job_app = create_app(make_test_config(database_url, REDIS_URL=redis_url,
                                          CRM_QUEUE_NAME=queue_name, CRM_JOB_TIMEOUT=120,
                                          CRM_AUDIT_CHAIN_KEY=key))
    yield job_app
    Queue(queue_name, connection=redis_connection(redis_url)).delete(delete_jobs=True)


def upload_and_map(page, shoot, base: str, tmp_path) -> None:
    sign_in(page, base, "operator")
    page.goto(f"{base}/imports/")
    shoot("01-operator-batches")
    with page.expect_navigation():
        page.locator("a[href$='/imports/upload']").first.click()
    spreadsheet = tmp_path / "客户导入.xlsx"
    spreadsheet.write_bytes(workbook_bytes())
    form = page.locator("#import-upload")
    form.locator("input[name=file]").set_input_files(str(spreadsheet))
    form.locator("select[name=kind]").select_option("customers")
    form.locator("select[name=mode]").select_option("skip_bad")  # keep the good rows
    shoot("02-upload-form")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "/mapping" in page.url, page.content()[:1500]
    mapped = [page.locator(f"select[name=col_{i}]").input_value() for i in range(len(HEADER))]
    assert mapped == ["customer_no", "name", "mobile", "id_number", "branch"]
    shoot("03-automatic-column-mapping")
    with page.expect_navigation():
        page.locator("#import-mapping button[type=submit]").click()
    assert "/imports/batch/" in page.url and "/mapping" not in page.url


def expect_counts(page, created: int, rejected: int) -> None:
    expect(page.locator("#n-created")).to_have_text(str(created))
    expect(page.locator("#n-rejected")).to_have_text(str(rejected))
    expect(page.locator("#n-updated")).to_have_text("0")


def expect_finished(page, app, status: str) -> None:
    """The page's own polling takes the bar to 100% and reloads it with the final status."""
    expect(page.locator("#batch-status")).to_have_text(status_label(app, status),
                                                       timeout=60_000)
    expect(page.locator("#import-progress")).to_have_text("100%")
    expect(page.locator("#import-progress-text")).to_contain_text(f"{len(ROWS)} / {len(ROWS)}")


def commit(page) -> None:
    with page.expect_navigation():
        page.locator("form[action$='/run/commit'] button[type=submit]").click()


def check_error_report(page, shoot) -> None:
    """Download the report and read it: the right rows, values and messages."""
    from openpyxl import load_workbook

    with page.expect_download() as download:
        page.locator("a[href*='/imports/report/']").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as handle:
        workbook = load_workbook(io.BytesIO(handle.read()), read_only=True)
    rejected_sheet, problems_sheet, _summary = workbook.worksheets
    rejected = list(rejected_sheet.iter_rows(values_only=True))
    assert list(rejected[0][1:-1]) == HEADER
    by_row = {line[0]: line for line in rejected[1:]}
    assert sorted(by_row) == sorted(PROBLEMS)
    for row, line in by_row.items():
        original = ROWS[row - 2]
        assert [value or "" for value in line[1:-1]] == original, (row, line)
    problems = [line for line in problems_sheet.iter_rows(values_only=True)][1:]
    assert [(row, column) for row, column, _ in problems] == [
        (row, PROBLEMS[row][0]) for row in sorted(PROBLEMS)]
    for row, column, message in problems:
        assert message.startswith(f"第 {row} 行，{column}：") and PROBLEMS[row][1] in message, (
            row, message)
        assert message in by_row[row][-1]  # the row's own sheet lists its problems too
    # A browser cannot show a workbook: the report's first sheet, as read, drawn as a table.
    page.set_content(report_as_html(download.value.suggested_filename, rejected))
    shoot("08-error-report-contents")


def report_as_html(filename: str, rows: list) -> str:
    from html import escape

    cells = "".join("<tr>" + "".join(f"<td>{escape(str(v or ''))}</td>" for v in row) + "</tr>"
                    for row in rows)
    return (f"<meta charset='utf-8'><h3>{escape(filename)}</h3>"
            f"<table border='1' cellpadding='4' style='border-collapse:collapse'>{cells}</table>")


def customers_made(app) -> list[str]:
    from backoffice.extensions import db
    from tests.imports.conftest import customers_with_prefix

    with app.app_context():
        try:
            return [c.customer_no for c in customers_with_prefix(PREFIX)]
        finally:
            db.session.remove()


def test_operator_import_on_an_rq_worker(page, shoot, worker_app, tmp_path):
    with serve(worker_app, "rq-live-server") as base:
        upload_and_map(page, shoot, base, tmp_path)

        # The dry run waits on Redis: the page polls, the bar at 0%.
        expect(page.locator("#import-progress")).to_have_text("0%")
        expect(page.locator("#import-progress-text")).to_have_text(
            f"0 行 · {status_label(worker_app, 'queued')}")
        assert page.locator("#batch-status").inner_text() == status_label(worker_app, "uploaded")
        shoot("04-dry-run-queued-at-0")
        run_burst_worker(worker_app.config)
        expect_finished(page, worker_app, "dry_run")
        expect_counts(page, GOOD, BAD)
        assert customers_made(worker_app) == []  # a dry run writes nothing
        shoot("05-dry-run-done-at-100")

        commit(page)
        expect(page.locator("#batch-status")).to_have_text(status_label(worker_app, "queued"))
        expect(page.locator("#import-progress-text")).to_contain_text(
            status_label(worker_app, "queued"))
        shoot("06-commit-queued")
        run_burst_worker(worker_app.config)
        expect_finished(page, worker_app, "committed")
        expect_counts(page, GOOD, BAD)
        shoot("07-committed-at-100")
        assert customers_made(worker_app) == [f"{PREFIX}001", f"{PREFIX}003", f"{PREFIX}007"]
        check_error_report(page, shoot)


def test_operator_import_inline(page, shoot, live_server, app, imported, tmp_path):
    upload_and_map(page, shoot, live_server, tmp_path)
    expect_finished(page, app, "dry_run")
    expect_counts(page, GOOD, BAD)
    shoot("05-dry-run-done-at-100")
    commit(page)
    expect_finished(page, app, "committed")
    expect_counts(page, GOOD, BAD)
    shoot("07-committed-at-100")
    assert customers_made(app) == [f"{PREFIX}001", f"{PREFIX}003", f"{PREFIX}007"]
    check_error_report(page, shoot)
