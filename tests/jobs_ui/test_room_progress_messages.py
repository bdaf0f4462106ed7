"""The progress messages the rooms set while a job runs read in the job-run page's reader's
language: each is a lazy translation, which the runner stores as its message id.

Churn scoring and the segment refresh run here on the test's own transaction (rolled back: no
score, tier or membership of the session's population changes) with a recording progress; what
the runner would store for their messages is written on a run row of the test's own, whose page
and progress endpoint are then read in English and in Chinese.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest
from flask_babel import force_locale

from backoffice import stored_text
from jobs import runner

AS_OF = dt.datetime(2026, 3, 2, 2, 0)


class Recorder:
    """A job's progress as the rooms see it: ``update(done, total=, message=)``."""

    def __init__(self):
        self.messages = []

    def update(self, done, total=None, message=None):
        if message is not None:
            self.messages.append(message)


@pytest.fixture
def run_row(app):
    """``run_row(name, message)``: a finished run holding ``message`` as the runner stores it;
    the run is deleted afterwards."""
    from backoffice.extensions import db
    from models import JobRun

    made = []

    def _make(name, message):
        with app.app_context():
            run = JobRun(name=name, status="finished", done=1, total=1,
                         message=runner.stored_message(message))
            db.session.add(run)
            db.session.commit()
            made.append(run.id)
            db.session.remove()
        return made[-1]

    yield _make
    with app.app_context():
        for run_id in made:
            db.session.delete(db.session.get(JobRun, run_id))
        db.session.commit()
        db.session.remove()


def _messages_of(app, work) -> list:
    """The messages ``work(session, progress)`` reports, its writes rolled back."""
    from backoffice.extensions import db

    recorder = Recorder()
    with app.app_context():
        try:
            work(db.session, recorder)
        finally:
            db.session.rollback()
            db.session.remove()
    return recorder.messages


def _page_message(client, run_id) -> str:
    page = client.get(f"/jobs/show/{run_id}").get_data(as_text=True)
    assert stored_text.MARK not in page
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_churn_scoring_progress_reads_in_english_and_in_chinese(app, world, client_as,
                                                                  run_row):
    from backoffice.churn import scoring

    messages = _messages_of(app, lambda session, progress: scoring.run(
        session, as_of=AS_OF, progress=progress, create_tasks=False))
    assert messages and all(stored_text.is_kept(runner.stored_message(m)) for m in messages)
    with force_locale("en"):
        count = int(re.match(r"(\d+) customers scored", str(messages[-1])).group(1))
    assert count >= 3
    run_id = run_row("jobs.scoring.score_customers", messages[-1])
    client = client_as("operator")
    try:
        client.get("/lang/en")
        assert f"{count} customers scored" in _page_message(client, run_id)
        assert client.get(f"/jobs/progress/{run_id}").json["message"] == \
            f"{count} customers scored"
        client.get("/lang/zh")
        chinese = _page_message(client, run_id)
        assert f"已为 {count} 位客户评分" in chinese and "customers scored" not in chinese
        assert client.get(f"/jobs/progress/{run_id}").json["message"] == \
            f"已为 {count} 位客户评分"
    finally:
        client.get("/lang/zh")


def test_segment_refresh_progress_is_kept_as_message_ids(app, world, client_as, run_row):
    from backoffice.segments.catalog import rule_fields
    from backoffice.segments.refresh import refresh_all

    messages = _messages_of(app, lambda session, progress: refresh_all(
        session, rule_fields(session=session), today=AS_OF.date(), progress=progress))
    stored = [runner.stored_message(message) for message in messages]
    assert len(stored) >= 3 and all(stored_text.is_kept(text) for text in stored), stored
    with force_locale("en"):
        english = [str(message) for message in messages]
    assert english[0] == "Computing metrics, tiers and rule matches"
    assert english[-1] == "Writing counts"
    run_id = run_row("jobs.segments.refresh", messages[0])
    client = client_as("operator")
    try:
        client.get("/lang/en")
        assert "Computing metrics, tiers and rule matches" in _page_message(client, run_id)
        client.get("/lang/zh")
        chinese = _page_message(client, run_id)
        assert "正在计算指标、客户分层和规则匹配" in chinese and "Computing" not in chinese
    finally:
        client.get("/lang/zh")


def test_an_imports_rows_read_message_is_kept_as_its_message_id(app, world, client_as,
                                                                 run_row):
    """The import's "rows read" progress was translated when set (the job's language)."""
    from backoffice.extensions import db
    from backoffice.imports import pipeline

    recorder = Recorder()
    with app.app_context():
        run = pipeline.Run(db.session, 0, apply=False, progress=recorder)  # no batch needed
        run.rows_read = 1234
        run._report_progress(2000)
        db.session.remove()
    [message] = recorder.messages
    assert stored_text.is_kept(runner.stored_message(message))
    run_id = run_row("jobs.imports.commit", message)
    client = client_as("operator")
    try:
        client.get("/lang/en")
        assert "1234 rows read" in _page_message(client, run_id)
        client.get("/lang/zh")
        chinese = _page_message(client, run_id)
        assert "已读取 1234 行" in chinese and "rows read" not in chinese
    finally:
        client.get("/lang/zh")
