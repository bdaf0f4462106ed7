"""A job run's page reads in the reader's language: the job's message and its result's labels,
never the English the job was written in nor the keys of its result dict."""
from __future__ import annotations

import re

import pytest
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from backoffice import stored_text
from backoffice.jobs_ui import results
from jobs import runner
from jobs.queue import enqueue


@pytest.fixture
def counted_run(app, world):
    """A finished run of the pattern job (its message a lazy translation, its result nested)."""
    from backoffice.extensions import db
    from models import JobRun

    with app.app_context():
        run = enqueue("jobs.demo_tasks.count_customers")
        run_id, message, result = run.id, run.message, run.result
        db.session.remove()
    yield run_id, message, result
    with app.app_context():
        db.session.delete(db.session.get(JobRun, run_id))
        db.session.commit()
        db.session.remove()


def _cells(page: str) -> dict[str, str]:
    """Result table: header text -> cell text (tags stripped)."""
    table = page[page.index("crm-job-result"):]
    return {th: re.sub(r"<[^>]+>", " ", td).strip() for th, td in
            re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td></tr>', table)}


def test_a_job_runs_page_in_english_and_in_chinese(client_as, counted_run):
    run_id, message, result = counted_run
    assert stored_text.is_kept(message), "the runner stores a lazy message as its message id"
    customers = result["customers"]
    client = client_as("operator")
    try:
        assert client.get("/lang/en").status_code == 302
        en = client.get(f"/jobs/show/{run_id}").get_data(as_text=True)
        assert f"Counted {customers} customers" in en
        cells = _cells(en)
        assert cells["Customers"] == f"{customers:,}"
        assert {"By status", "Ran in"} <= set(cells)
        assert "Process" in en and "Host" in en
        assert client.get(f"/jobs/progress/{run_id}").json["message"] == \
            f"Counted {customers} customers"

        assert client.get("/lang/zh").status_code == 302
        zh = client.get(f"/jobs/show/{run_id}").get_data(as_text=True)
        assert f"已统计 {customers} 位客户" in zh
        cells = _cells(zh)
        assert cells["客户数"] == f"{customers:,}"
        assert {"按状态", "运行位置"} <= set(cells)
        assert "进程" in zh and "主机" in zh
        assert "Counted" not in zh and "By status" not in zh
        assert client.get(f"/jobs/progress/{run_id}").json["message"] == \
            f"已统计 {customers} 位客户"
        for page in (en, zh):
            assert stored_text.MARK not in page
            for key in ("by_status", "ran_in", "pid", "customers:", "{'"):
                assert key not in page, key
    finally:
        client.get("/lang/zh")


def test_result_values_are_formatted_and_escaped(app):
    with app.test_request_context(), force_locale("en"):
        html = str(results.table({
            "created": 12345, "skipped": 0, "needs_approval": True, "psi": 0.123456,
            "rows_per_second": 2500.0, "duplicate_of": None, "batch_id": 1234,
            "message": stored_text.keep(_l("Cancelled.")), "status": "<b>done</b>",
            "tiers": {"vip": 3, "mass": 1200}, "metrics": ["a", "b"], "some_new_key": 1}))
    cells = dict(re.findall(r'<th scope="row">([^<]*)</th><td>(.*?)</td></tr>', html))
    assert cells["Created"] == "12,345" and cells["Skipped"] == "0"
    assert cells["Needs approval"] == "Yes" and cells["Population stability (PSI)"] == "0.1235"
    assert cells["Rows per second"] == "2,500" and cells["Same file as batch"] == "—"
    assert cells["Import batch"] == "1234"  # an identifier, not a quantity
    assert cells["Message"] == "Cancelled."
    assert cells["Status"] == "&lt;b&gt;done&lt;/b&gt;" and "<b>" not in html
    # Nested keys are data (tier codes here), shown as they are, their values formatted.
    assert '<th scope="row">vip</th><td>3</td>' in html
    assert '<th scope="row">mass</th><td>1,200</td>' in html
    assert cells["Figures"] == "a, b"
    assert cells["Some new key"] == "1"  # unregistered: words, not a code
    assert isinstance(results.table({"created": 1}), Markup)
    assert results.table(None) == "" and results.table({}) == "—"


def test_registered_labels_are_looked_up_when_shown(app):
    results.register({"charts_marker_kept": _l("Cancelled.")})
    try:
        with app.test_request_context(), force_locale("en"):
            assert results.label("charts_marker_kept") == "Cancelled."
    finally:
        results.LABELS.pop("charts_marker_kept")


def test_the_runner_keeps_lazy_messages_and_stores_plain_text_as_it_is(app):
    with app.test_request_context():
        kept = runner.stored_message(_l("Counted %(n)s customers", n=7))
        assert stored_text.is_kept(kept) and len(kept) <= 255
        with force_locale("en"):
            assert stored_text.show(kept) == "Counted 7 customers"
        assert runner.stored_message("plain words") == "plain words"
        assert len(runner.stored_message("x" * 400)) == 255
        # Too long to keep as a message id: stored as text, never as a cut, unreadable id.
        long = runner.stored_message(_l("Counted %(n)s customers", n="9" * 300))
        assert not stored_text.is_kept(long) and len(long) == 255
