"""Training from the churn model screen: a form that enqueues the training job (inline in the
embedded default), its progress, what it stores, what it refuses, and who may use it."""
from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from backoffice import stored_text

from tests.support.web import csrf_token

FORM = "/churn/models/train"


def _runs(app):
    from backoffice.extensions import db
    from models import JobRun

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(JobRun).where(
            JobRun.name == "jobs.churn_training.train_model"))
        db.session.remove()
    return count


def test_the_screen_trains_a_version_through_the_job(app, client_as, training_bank):
    """Posted as a churn admin, the job runs inline: the run is finished with its progress at
    the end, a new inactive version holds the label, the data dates and the held-out curves,
    and the operation log names who trained it."""
    from backoffice.extensions import db
    from jobs.churn_training import STEPS
    from models import JobRun
    from models.audit import AuditLog
    from models.churn import ChurnModel

    with app.app_context():  # ids of deleted versions come back on SQLite: count from here
        logged_before = db.session.scalar(select(func.max(AuditLog.id))) or 0
        db.session.remove()
    admin = client_as("admin")
    form = admin.get(FORM)
    assert form.status_code == 200
    assert 'name="positive"' in form.get_data(as_text=True)
    response = admin.post(FORM, data={
        "csrf_token": csrf_token(admin, FORM), "target": "ctrain_left", "positive": "",
        "feature": ["ctrain_score", "ctrain_region"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    run_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    with app.app_context():
        run = db.session.get(JobRun, run_id)
        assert (run.status, run.done, run.total) == ("finished", STEPS, STEPS), run.error
        with force_locale("en"):  # kept as a message id, read in the reader's language
            assert stored_text.show(run.message).startswith("Stored as version")
        row = db.session.get(ChurnModel, run.result["model_id"])
        assert row.active is False and row.target == "custom_fields.ctrain_left"
        config = row.training_config
        assert {"cf.ctrain_score", "cf.ctrain_region"} <= set(config["features"])
        assert config["label_definition"] == {"target": "ctrain_left", "positive": None,
                                              "closed_gap_days": None}
        assert config["data_range"]["as_of"]
        assert row.metrics["n_test"] == 60 and row.baseline_metrics["n_test"] == 60
        assert row.metrics["roc_auc"] > 0.7  # the planted signal is learnt
        assert len(config["curves"]["lift"]["model"]) == 10
        logged = db.session.execute(select(AuditLog).where(
            AuditLog.action == "churn_model_train", AuditLog.entity_id == str(row.id),
            AuditLog.id > logged_before)).scalars().all()
        assert [entry.actor_username for entry in logged] == ["admin"]
        db.session.remove()
    page = admin.get(f"{FORM}/{run_id}")
    assert page.status_code == 200
    assert f"/churn/models/{run.result['model_id']}" in page.get_data(as_text=True)
    progress = admin.get(f"{FORM}/{run_id}/progress").get_json()
    assert progress["status"] == "finished" and progress["percent"] == 100
    assert progress["version_url"].endswith(f"/churn/models/{run.result['model_id']}")


def test_progress_follows_the_training_steps(app, training_bank):
    """The job reports each step of the training (split, search, chosen hyperparameters,
    calibration) as it happens, never going back, and ends at the total."""
    from backoffice.extensions import db
    from jobs import churn_training

    class Recorder:
        def __init__(self):
            self.calls = []

        def update(self, done, total=None, message=None):
            self.calls.append((done, total, message))

    recorder = Recorder()
    with app.app_context():
        result = churn_training.train_model(progress=recorder, target="ctrain_left",
                                            features=["ctrain_score", "ctrain_region"])
        db.session.remove()
    done = [call[0] for call in recorder.calls]
    from jobs import runner

    # Lazy translations: the runner keeps each as its message id, read in the reader's language.
    kept = [runner.stored_message(call[2]) for call in recorder.calls if call[2] is not None]
    assert all(stored_text.is_kept(text) for text in kept), [(len(t), t[:300]) for t in kept if not stored_text.is_kept(t)]
    with force_locale("en"):
        messages = " | ".join(str(call[2] or "") for call in recorder.calls)
    assert done == sorted(done) and done[-1] == churn_training.STEPS and done[0] == 0
    assert all(call[1] == churn_training.STEPS for call in recorder.calls)
    for step in ("Split:", "Searching", "Chosen by", "Calibrated"):
        assert step in messages, messages
    assert result["version"] >= 1 and set(result["metrics"]) >= {"roc_auc", "brier"}


@pytest.mark.parametrize("data, named", [
    ({"target": "no_such_field_xq"}, "no_such_field_xq"),
    ({"target": "ctrain_left", "feature": ["nothing_like_this_xq"]}, "nothing_like_this_xq"),
    ({"target": "ctrain_region", "positive": "west_xq"}, "west_xq"),  # not one of its values
    ({"target": "ctrain_left", "positive": "x" * 101}, "100"),
    ({"target": "closed", "positive": "yes"}, "closed"),
])
def test_bad_choices_are_named_and_nothing_is_queued(app, client_as, training_bank, data,
                                                     named):
    """A wrong target, feature or missing "left" value: 400 with the reason, no job, logged."""
    from backoffice.extensions import db
    from models.audit import AuditLog

    admin = client_as("admin")
    with app.app_context():
        logged_before = db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "churn_model_train"))
        db.session.remove()
    runs_before = _runs(app)
    response = admin.post(FORM, data={"csrf_token": csrf_token(admin, FORM), **data})
    assert response.status_code == 400
    assert named in response.get_data(as_text=True)
    assert _runs(app) == runs_before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "churn_model_train")) == logged_before + 1
        db.session.remove()


def test_too_few_leavers_is_a_refusal_in_words_not_a_failure(app, client_as, training_bank):
    """Data that cannot train (closed customers as leavers: the test bank has almost none) ends
    the run "finished" with the refusal shown on the run's page, not a traceback."""
    from backoffice.extensions import db
    from jobs.queue import enqueue
    from models import JobRun

    with app.test_request_context():
        run = enqueue("jobs.churn_training.train_model", target=None)
        run_id = run.id
        db.session.remove()
    with app.app_context():
        run = db.session.get(JobRun, run_id)
        assert run.status == "finished" and "refused" in run.result, run.error
        refused = run.result["refused"]
        db.session.remove()
    admin = client_as("admin")
    try:
        admin.get("/lang/en")
        body = admin.get(f"{FORM}/{run_id}").get_data(as_text=True)
    finally:
        admin.get("/lang/zh")
    assert "training-refused" in body and "Traceback" not in body
    with app.test_request_context(), force_locale("en"):
        assert stored_text.show(refused).split(":")[0] in body


def test_a_refusal_reads_in_the_readers_language(app, client_as, training_bank):
    """The reason a training is refused is kept as a message id: the run's page, its progress
    and the job-run page show it in Chinese to a Chinese reader and in English to an English
    one, never as the stored form."""
    from backoffice.extensions import db
    from jobs.queue import enqueue
    from models import JobRun

    with app.test_request_context():
        run = enqueue("jobs.churn_training.train_model", target=None)  # too few closed
        run_id = run.id
        db.session.remove()
    with app.app_context():
        run = db.session.get(JobRun, run_id)
        assert stored_text.is_kept(run.result["refused"]) and stored_text.is_kept(run.message)
        db.session.remove()
    admin = client_as("admin")
    try:
        pages = {}
        for lang in ("en", "zh"):
            assert admin.get(f"/lang/{lang}").status_code == 302
            pages[lang] = {"run": admin.get(f"{FORM}/{run_id}").get_data(as_text=True),
                           "job": admin.get(f"/jobs/show/{run_id}").get_data(as_text=True),
                           "progress": admin.get(f"{FORM}/{run_id}/progress").get_json()}
    finally:
        admin.get("/lang/zh")
    english, chinese = "of them left: at least", "流失与留存各至少需要"
    for lang, expected, other in (("en", english, chinese), ("zh", chinese, english)):
        progress = pages[lang]["progress"]
        assert expected in progress["refused"] and expected in progress["message"], progress
        for page in (pages[lang]["run"], pages[lang]["job"]):
            assert expected in page and other not in page, lang
            assert stored_text.MARK not in page and "i18n:" not in page
    assert "training-refused" in pages["zh"]["run"]


def test_a_feature_problem_on_the_form_reads_in_chinese(app, client_as, training_bank):
    """The form names a feature it refuses in the reader's language (the default, Chinese)."""
    admin = client_as("admin")
    admin.get("/lang/zh")
    response = admin.post(FORM, data={"csrf_token": csrf_token(admin, FORM),
                                      "target": "ctrain_left",
                                      "feature": ["ctrain_left", "nothing_like_this_xq"]})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "ctrain_left：是目标，不能同时作为特征" in body
    assert "nothing_like_this_xq：没有这个启用中的客户字段" in body
    assert "cannot also be a feature" not in body and "no such active" not in body


@pytest.mark.parametrize("username", ["rm1", "bm1", "teller1", "operator", "auditor"])
def test_only_churn_model_roles_may_train(app, client_as, training_bank, username):
    """Without the churn model permission: no form, no job, no run page or progress."""
    client = client_as(username)
    assert client.get(FORM).status_code in (302, 403, 404)
    runs_before = _runs(app)
    response = client.post(FORM, data={"target": "ctrain_left"})
    assert response.status_code in (302, 400, 403, 404)
    assert _runs(app) == runs_before
    assert client.get(f"{FORM}/1").status_code in (302, 403, 404)
    assert client.get(f"{FORM}/1/progress").status_code in (302, 403, 404)


def test_the_churn_lead_sees_the_form_and_the_models_list_links_it(client_as, training_bank):
    senior = client_as("senior")
    assert senior.get(FORM).status_code == 200
    assert FORM in senior.get("/churn/models/").get_data(as_text=True)
