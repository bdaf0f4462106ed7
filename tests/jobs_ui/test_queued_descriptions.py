"""A queued run's message (its description until the job sets its own) reads in the reader's
language: ``enqueue`` stores a lazy description as its message id, and every caller gives one."""
from __future__ import annotations

import ast
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete

ROOT = Path(__file__).resolve().parents[2]


def test_a_queued_run_shows_its_description_in_each_readers_language(app, world, client_as,
                                                                      monkeypatch):
    """The run as a worker has not picked it up yet (the inline runner held back): its page
    and its progress read the description in English and in Chinese."""
    from backoffice.extensions import db
    from jobs import runner
    from jobs.queue import enqueue
    from models.jobs import JobRun

    monkeypatch.setattr(runner, "execute", lambda *call: None)  # still queued
    with app.test_request_context():
        app.config["REDIS_URL"] = None
        run_id = enqueue("jobs.summaries.refresh",
                         description=_l("Dashboard figures (on demand)")).id
        db.session.remove()
    client = client_as("operator")
    try:
        assert client.get("/lang/en").status_code == 302
        assert "Dashboard figures (on demand)" in client.get(
            f"/jobs/show/{run_id}").get_data(as_text=True)
        assert client.get(f"/jobs/progress/{run_id}").json["message"] == \
            "Dashboard figures (on demand)"
        assert client.get("/lang/zh").status_code == 302
        chinese = client.get(f"/jobs/progress/{run_id}").json["message"]
        assert chinese and chinese != "Dashboard figures (on demand)"
        assert "Dashboard figures" not in client.get(
            f"/jobs/show/{run_id}").get_data(as_text=True)
    finally:
        client.get("/lang/zh")
        with app.app_context():
            db.session.execute(delete(JobRun).where(JobRun.id == run_id))
            db.session.commit()
            db.session.remove()


def test_every_description_given_to_enqueue_is_a_lazy_translation():
    """No caller passes plain text (an f-string or a literal) as a job's description."""
    plain = []
    for path in [*ROOT.joinpath("backoffice").rglob("*.py"), *ROOT.joinpath("jobs").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in ("enqueue", "enqueue_job"):
                continue
            for keyword in node.keywords:
                if keyword.arg == "description" and isinstance(
                        keyword.value, (ast.Constant, ast.JoinedStr)):
                    plain.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not plain, plain
