"""Copies of the target are kept out of training, and a too-good model is not activated on a
whim (backoffice.churn.leakage, service, registry, cli, views).

The end-to-end test imports a file carrying the outcome twice (a text column and its 0/1 twin)
plus a closing reason filled only for leavers: both are left out with their reason, listed in
the stored version and in the command's output, and the model's figures are those of the real
signal. The activation guard is shown on the command line and on the screen, with its log.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, update

from backoffice.churn import leakage
from tests.support.web import csrf_token


def frame_with_copies(n=600, seed=1):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(signal * 1.5 - 1)))).astype(int)
    keys = np.where(y == 1, "Attrited Customer", "Existing Customer")
    frame = pd.DataFrame({
        "signal": signal,  # a real, imperfect signal: kept
        "cf.twin": y.astype(float),  # the 0/1 twin
        "cf.text_twin": np.where(y == 1, "yes", "no").astype(object),
        "cf.months_since_exit": np.where(y == 1, rng.integers(1, 12, n), 0).astype(float),
        "cf.reason": np.where(y == 1, rng.choice(["price", "service", "moved"], n),
                              None).astype(object),  # filled only for leavers
        # 300 values of two rows each: counted on itself it would separate perfectly.
        "cf.rare": np.array([f"v{i // 2}" for i in range(n)], dtype=object),
    })
    return frame, y, keys


def test_copies_and_functions_of_the_target_are_found_and_the_real_signal_is_kept():
    frame, y, keys = frame_with_copies()
    found = leakage.find(frame, y, keys, list(frame.columns),
                         ["cf.text_twin", "cf.reason", "cf.rare"], seed=3)
    assert set(found) == {"cf.twin", "cf.text_twin", "cf.months_since_exit", "cf.reason"}
    assert found["cf.twin"]["reason"] == found["cf.text_twin"]["reason"] == "one_to_one"
    assert found["cf.months_since_exit"] == {"reason": "separates", "roc_auc": 1.0}
    assert found["cf.reason"]["reason"] == "separates" and found["cf.reason"]["roc_auc"] >= 0.99
    assert "one-to-one" in leakage.reason_text(found["cf.twin"])
    assert "1.000" in leakage.reason_text(found["cf.months_since_exit"])


def test_a_nearly_perfect_but_honest_field_is_kept():
    """A strong signal below the threshold stays (0.99 is the line, not "strong")."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    strong = y * 2.0 + rng.normal(size=2000)  # ROC-AUC about 0.92
    frame = pd.DataFrame({"strong": strong})
    assert leakage.find(frame, y, y.astype(str), ["strong"], [], seed=0) == {}


def test_the_check_sees_only_the_rows_training_fits_on():
    """The same stratified split as training.train, so the held-out rows choose nothing."""
    y = np.array([0] * 80 + [1] * 20)
    fit = leakage.training_rows(y, test_size=0.2, seed=42)
    assert fit.sum() == 80 and y[fit].sum() == 16
    from sklearn.model_selection import train_test_split

    _, held_out = train_test_split(np.arange(100), test_size=0.2, stratify=y, random_state=42)
    assert not fit[held_out].any()


def attrition_file(n=400, seed=11):
    """A file with the outcome twice, a closing reason for leavers only, a noisy real signal,
    and a few customers without an outcome."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        score = float(rng.uniform(0, 1))
        left = bool(rng.uniform() < 0.1 + 0.6 * score)
        flag = "Attrited Customer" if left else "Existing Customer"
        twin = 1 if left else 0
        reason = str(rng.choice(["price", "service", "moved"])) if left else ""
        if i % 50 == 0:
            flag, twin, reason = "", "", ""
        rows.append([f"LEAK{i:04d}", f"客户{i}", "Female" if i % 3 else "Male",
                     round(score * 100), flag, twin, reason])
    return ["CustomerId", "Surname", "Gender", "Score", "Attrition_Flag", "Flag01",
            "ClosingReason"], rows


def test_a_file_carrying_the_target_twice_trains_without_the_twin(app, world):
    from backoffice.churn import dataset
    from backoffice.extensions import db
    from models.churn import ChurnModel
    from tests.churn.imported import imported, train_cli

    header, rows = attrition_file()
    with imported(app, header, rows):
        catalog = dataset._catalog(db.session)
        twin = "cf." + dataset.find_spec(catalog, "Flag01").key
        reason = "cf." + dataset.find_spec(catalog, "ClosingReason").key
        score = "cf." + dataset.find_spec(catalog, "Score").key
        code, output = train_cli(app, "--target", "Attrition_Flag", "--positive",
                                 "Attrited Customer", "--cv-folds", 2)
        assert code == 0, output
        row = db.session.scalars(select(ChurnModel).order_by(ChurnModel.version.desc())).first()
        config = row.training_config
        assert config["leakage"][twin]["reason"] == "one_to_one"
        assert config["leakage"][reason]["reason"] in ("one_to_one", "separates")
        assert twin not in config["features"] and reason not in config["features"]
        assert score in config["features"]
        assert config["excluded"][twin].startswith("a copy of the target")
        assert row.metrics["roc_auc"] < 0.99  # the real signal's figure, not leakage's
        kinds = {item["name"]: item for item in config["feature_kinds"]}
        assert kinds[score]["kind"] == "numeric" and "custom field" in kinds[score]["source"]
        assert kinds["gender"] == {"name": "gender", "kind": "categorical", "source": "built-in"}
        # The output lists the features used with their kind, and the ones left out with why.
        lines = output.splitlines()
        assert any(line.startswith(f"  {score}  ") for line in lines)  # used, with its kind
        assert not any(line.startswith(f"  {twin}  ") for line in lines)
        assert any(line.startswith(f"  {twin}: ") for line in lines)  # left out, with why
        assert any(line.startswith(f"  {reason}: ") for line in lines)
        counts = config["label"]["counts"]
        assert counts["values"]["Attrited Customer"] == counts["positive"]
        assert counts["values"]["Existing Customer"] == counts["negative"]


@pytest.fixture(scope="module")
def too_good():
    """A trained result scoring a held-out ROC-AUC of 1.0 (its only feature is the outcome)."""
    from backoffice.churn import registry, training

    rng = np.random.default_rng(2)
    y = pd.Series((rng.uniform(size=200) < 0.3).astype(float))
    frame = pd.DataFrame({"tx_count_change_90d": y * 3 + rng.uniform(0, 1, 200)})
    result = training.train(frame, y, [], cv_folds=2, log=lambda s: None)
    assert result.metrics["roc_auc"] >= registry.SUSPICIOUS_AUC
    return result


@pytest.fixture
def suspicious(app, world, too_good):
    """That result stored as an inactive version, and inactive again after the test. The row
    stays: its id must not be reused by another test's version, whose activation log entries
    would then be mixed with the ones written here."""
    from backoffice.churn import registry
    from backoffice.extensions import db
    from models.churn import ChurnModel

    from models.audit import AuditLog

    with app.app_context():
        since = db.session.scalar(select(func.max(AuditLog.id))) or 0
        row = registry.store(db.session, too_good, target="status:closed",
                             selection_config={"custom": [], "standard": []})
        db.session.commit()
        pk, version = row.id, row.version
        db.session.remove()
    yield pk, version, since
    with app.app_context():
        db.session.execute(update(ChurnModel).where(ChurnModel.id == pk).values(active=False))
        db.session.commit()
        db.session.remove()


def _log(app, pk, action, since):
    from backoffice.extensions import db
    from models.audit import AuditLog

    with app.app_context():
        rows = db.session.execute(select(AuditLog).where(
            AuditLog.action == action, AuditLog.entity_id == str(pk), AuditLog.id > since)
            .order_by(AuditLog.id)).scalars().all()
        out = [(r.actor_username, r.detail) for r in rows]
        db.session.remove()
    return out


def _active(app, pk):
    from backoffice.extensions import db
    from models.churn import ChurnModel

    with app.app_context():
        value = db.session.get(ChurnModel, pk).active
        db.session.remove()
    return value


def test_the_command_refuses_a_suspicious_version_without_a_reason(app, suspicious):
    pk, version, since = suspicious
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["crm", "churn", "activate", str(version)])
    assert refused.exit_code != 0 and "--confirm-suspicious" in refused.output
    assert not _active(app, pk)
    assert len(_log(app, pk, "churn_model_activate_refused", since)) == 1
    blank = runner.invoke(args=["crm", "churn", "activate", str(version),
                                "--confirm-suspicious", "   "])
    assert blank.exit_code != 0 and not _active(app, pk)
    done = runner.invoke(args=["crm", "churn", "activate", str(version), "--confirm-suspicious",
                               "audited by risk: the outcome is known a month ahead"])
    assert done.exit_code == 0, done.output
    assert _active(app, pk)
    (_, detail), = _log(app, pk, "churn_model_activate", since)
    assert "audited by risk: the outcome is known a month ahead" in detail
    assert "suspicious_confirmed" in detail


def test_the_screen_asks_for_a_reason_and_logs_it(app, client_as, suspicious):
    pk, _version, since = suspicious
    assert client_as("rm1").post(f"/churn/models/{pk}/activate").status_code in (302, 400, 404)
    admin = client_as("admin")
    token = csrf_token(admin, f"/churn/models/{pk}")
    asked = admin.post(f"/churn/models/{pk}/activate", data={"csrf_token": token})
    body = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'name="confirm_reason"' in body and "1.0000" in body
    assert not _active(app, pk)
    empty = admin.post(f"/churn/models/{pk}/activate",
                       data={"csrf_token": token, "confirming": "1", "confirm_reason": " "})
    assert empty.status_code == 200 and not _active(app, pk)
    refusals = _log(app, pk, "churn_model_activate_refused", since)
    assert [who for who, _ in refusals] == ["admin", "admin"]
    done = admin.post(f"/churn/models/{pk}/activate",
                      data={"csrf_token": token, "confirming": "1",
                            "confirm_reason": "benchmark version, scoring switched off"})
    assert done.status_code == 302 and _active(app, pk)
    (who, detail), = _log(app, pk, "churn_model_activate", since)
    assert who == "admin" and "benchmark version, scoring switched off" in detail
