"""Churn screens by role: warnings within the record scope, registry and activation, settings.

Scores for the shared world's customers are written directly (the job is tested elsewhere):
c_rm1 is P1 (branch B1, owner rm1), c_rm3 is P2 (branch B2, owner rm3).
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, select

from tests.support.web import csrf_token


@pytest.fixture(scope="module")
def scored(app, world):
    from backoffice.churn.writer import write_scores
    from backoffice.extensions import db
    from models.base import utcnow
    from models.churn import ChurnScore

    with app.app_context():
        rows = [{"customer_id": world.customers[key], "model_id": None, "probability": p,
                 "risk_band": "high", "value_band": value, "warning_tier": tier,
                 "reasons": [{"feature": "tx_count_change_90d", "impact": 0.2, "value": -0.6}],
                 "signals": [{"code": "frequency_drop", "value": -0.6, "threshold": 0.5}],
                 "scored_at": utcnow()}
                for key, p, value, tier in (("c_rm1", 0.81, "high", "P1"),
                                            ("c_rm3", 0.64, "medium", "P2"))]
        write_scores(db.session, rows)
        db.session.commit()
        db.session.remove()
    yield world  # no app context held open: requests must get their own
    with app.app_context():
        db.session.execute(delete(ChurnScore).where(
            ChurnScore.customer_id.in_([r["customer_id"] for r in rows])))
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("username, sees, hidden", [
    ("senior", {"c_rm1", "c_rm3"}, set()),
    ("bm1", {"c_rm1"}, {"c_rm3"}),
    ("bm2", {"c_rm3"}, {"c_rm1"}),
    ("rm1", {"c_rm1"}, {"c_rm3"}),
    ("rm3", {"c_rm3"}, {"c_rm1"}),
])
def test_warnings_list_only_customers_in_scope(client_as, scored, username, sees, hidden):
    """Relationship managers see their own warnings, branch managers their branch's."""
    body = client_as(username).get("/churn/warnings/").get_data(as_text=True)
    for key in sees:
        assert f"客户{key}" in body, (username, key)
    for key in hidden:
        assert f"客户{key}" not in body, (username, key)
    if "c_rm1" in sees:
        assert "P1" in body and "-60%" in body  # the reason and the signal in words


@pytest.mark.parametrize("username", ["teller1", "operator", "auditor", "admin"])
def test_roles_without_churn_warnings_are_turned_away(client_as, scored, username):
    response = client_as(username).get("/churn/warnings/")
    assert response.status_code in (302, 403, 404)
    assert "客户c_rm1" not in response.get_data(as_text=True)


@pytest.mark.parametrize("username, count", [
    ("senior", 2), ("bm1", 1), ("bm2", 1), ("rm1", 1), ("rm2", 0), ("rm3", 1),
])
def test_dashboard_counts_follow_the_scope(app, client_as, scored, username, count):
    """The dashboard counts only the scored customers the user may see (RM own, BM branch).

    Other tests may leave scores of their own customers behind: the test counts what the
    world's two scores add to the figure (read with them, then without them)."""
    from backoffice.churn.writer import write_scores
    from backoffice.extensions import db
    from models.churn import ChurnScore

    client = client_as(username)

    def scored_figure() -> int:
        response = client.get("/churn/dashboard/")
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert "crm-chart" in body
        return int(re.search(r"已评分客户\s*[:：]\s*(\d+)", body).group(1))

    with_world = scored_figure()
    ids = [scored.customers[key] for key in ("c_rm1", "c_rm3")]
    with app.app_context():
        columns = [getattr(ChurnScore, name) for name in (
            "customer_id", "model_id", "probability", "risk_band", "value_band",
            "warning_tier", "reasons", "signals", "scored_at")]
        kept = [dict(row._mapping) for row in db.session.execute(
            select(*columns).where(ChurnScore.customer_id.in_(ids)))]
        db.session.execute(delete(ChurnScore).where(ChurnScore.customer_id.in_(ids)))
        db.session.commit()
        db.session.remove()
    try:
        without_world = scored_figure()
    finally:
        with app.app_context():
            write_scores(db.session, kept)
            db.session.commit()
            db.session.remove()
    assert len(kept) == 2
    assert with_world - without_world == count


@pytest.mark.parametrize("username", ["teller1", "operator", "auditor"])
def test_roles_without_churn_have_no_menu_and_no_dashboard(client_as, scored, username):
    """Tellers, operators and auditors get no churn menu entry and are turned away."""
    client = client_as(username)
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "/churn/warnings/" not in home and "/churn/dashboard/" not in home
    response = client.get("/churn/dashboard/")
    assert response.status_code in (302, 403, 404)
    assert "已评分客户" not in response.get_data(as_text=True)


def test_churn_menu_is_shown_to_relationship_and_branch_managers(client_as, scored):
    """The roles that work warnings find them in the menu."""
    for username in ("rm1", "bm1"):
        home = client_as(username).get("/", follow_redirects=True).get_data(as_text=True)
        assert "/churn/warnings/" in home, username


def test_model_registry_activation_is_a_logged_post(app, client_as, world):
    """Activation needs the permission and a POST; it logs and switches the active version."""
    import numpy as np
    import pandas as pd

    from backoffice.churn import registry, training
    from backoffice.extensions import db
    from models.audit import AuditLog
    from models.churn import ChurnModel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"tx_count_change_90d": rng.uniform(-1, 0.5, 300)})
    y = pd.Series((frame["tx_count_change_90d"] + rng.normal(0, 0.3, 300) < -0.4).astype(float))
    result = training.train(frame, y, [], cv_folds=2, log=lambda s: None)
    with app.app_context():
        row = registry.store(db.session, result, target="status:closed",
                             selection_config={"custom": [], "standard": []})
        db.session.commit()
        pk, version = row.id, row.version
    assert client_as("rm1").get(f"/churn/models/{pk}").status_code == 404
    admin = client_as("admin")
    page = admin.get(f"/churn/models/{pk}")
    assert page.status_code == 200 and "ROC-AUC" in page.get_data(as_text=True)
    assert "交叉验证选定" in page.get_data(as_text=True)  # Chinese by default
    english = client_as("admin")
    assert english.get("/lang/en").status_code == 302
    page_en = english.get(f"/churn/models/{pk}").get_data(as_text=True)
    assert "Chosen by cross-validation" in page_en and "交叉验证选定" not in page_en
    assert "Lift in top decile" in page_en and "max_iter" in page_en
    assert client_as("rm1").post(f"/churn/models/{pk}/activate").status_code in (302, 400, 404)
    token = csrf_token(admin, f"/churn/models/{pk}")
    assert admin.post(f"/churn/models/{pk}/activate",
                      data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert db.session.get(ChurnModel, pk).active is True
        logged = db.session.execute(select(AuditLog).where(
            AuditLog.action == "churn_model_activate", AuditLog.entity_id == str(pk))).scalars()
        assert [entry.actor_username for entry in logged] == ["admin"]
        db.session.execute(delete(ChurnModel).where(ChurnModel.id == pk))
        db.session.commit()
        db.session.remove()
    assert version >= 1


def test_tampered_artifact_is_never_loaded(app):
    """Bytes that do not match their SHA-256 are refused before unpickling, and not activated."""
    from backoffice.churn import registry
    from backoffice.extensions import db
    from models.churn import ChurnModel

    with app.app_context():
        row = ChurnModel(version=9001, target="status:closed", algorithm="x", metrics={},
                         baseline_metrics={}, training_config={}, reference_scores={},
                         artifact=b"not a model", artifact_sha256="0" * 64, artifact_bytes=11)
        db.session.add(row)
        db.session.commit()
        with pytest.raises(registry.ArtifactRefused):
            registry.load(db.session, row.id)
        with pytest.raises(registry.ArtifactRefused):
            registry.activate(db.session, 9001)
        db.session.rollback()
        assert db.session.get(ChurnModel, row.id).active is False
        db.session.delete(db.session.get(ChurnModel, row.id))
        db.session.commit()
        db.session.remove()


def test_signal_threshold_is_edited_on_screen_and_validated(app, client_as):
    from backoffice.extensions import db
    from models.churn import ChurnSignalRule

    admin = client_as("admin")
    with app.app_context():
        rule = db.session.execute(select(ChurnSignalRule).where(
            ChurnSignalRule.code == "frequency_drop")).scalar_one()
        pk = rule.id
        db.session.remove()
    token = csrf_token(admin, f"/churn/signals/edit/{pk}")
    admin.post(f"/churn/signals/edit/{pk}", data={
        "csrf_token": token, "enabled": "y", "threshold": "-1", "window_days": "90",
        "min_value_band": ""})
    with app.app_context():
        assert db.session.get(ChurnSignalRule, pk).threshold == 0.5  # refused, unchanged
        db.session.remove()
    admin.post(f"/churn/signals/edit/{pk}", data={
        "csrf_token": token, "enabled": "y", "threshold": "0.4", "window_days": "90",
        "min_value_band": ""})
    with app.app_context():
        rule = db.session.get(ChurnSignalRule, pk)
        assert rule.threshold == 0.4
        rule.threshold = 0.5
        db.session.commit()
        db.session.remove()
