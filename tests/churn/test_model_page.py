"""A model version's page: held-out figures beside the baseline, features used and left out
with the reason, label definition, data dates, and the reliability and lift charts' data — all
from the version's stored metadata — for churn model roles only."""
from __future__ import annotations

import html
import json
import re

import pytest


@pytest.fixture(scope="module")
def version(app, world, training_bank):
    """A version trained through the screen's job on the test bank."""
    from backoffice.extensions import db
    from jobs import churn_training
    from models.churn import ChurnModel

    class Quiet:
        def update(self, *args, **kwargs):
            pass

    with app.app_context():
        result = churn_training.train_model(progress=Quiet(), target="ctrain_left",
                                            features=["ctrain_score", "ctrain_region"])
        row = db.session.get(ChurnModel, result["model_id"])
        stored = {"id": row.id, "metrics": row.metrics, "baseline": row.baseline_metrics,
                  "config": row.training_config}
        db.session.remove()
    return stored


def _figures(body: str) -> list[dict]:
    return [json.loads(html.unescape(found))
            for found in re.findall(r"data-figure='([^']*)'", body)]


def test_the_page_shows_figures_features_label_and_dates(client_as, version, training_bank):
    body = client_as("admin").get(f"/churn/models/{version['id']}").get_data(as_text=True)
    metrics = body.split('id="churn-model-metrics"', 1)[1].split("</table>", 1)[0]
    for figures in (version["metrics"], version["baseline"]):
        for name in ("roc_auc", "pr_auc", "brier", "lift_top_decile"):
            assert f"<td>{figures[name]}</td>" in metrics, name
    used = body.split('id="churn-model-used"', 1)[1].split("</table>", 1)[0]
    dropped = body.split('id="churn-model-dropped"', 1)[1].split("</table>", 1)[0]
    assert "cf.ctrain_score" in used and "cf.ctrain_region" in used
    excluded = version["config"]["excluded"]
    assert excluded, "built-in features without activity are left out as constant"
    for name, reason in excluded.items():
        assert f"<code>{name}</code>" in dropped and name not in used
        assert html.escape(reason) in dropped
    label = body.split('id="churn-model-label"', 1)[1].split("</dl>", 1)[0]
    counts = version["config"]["label"]["counts"]
    assert counts["positive"] == training_bank.leavers
    assert "ctrain_left" in label and str(training_bank.leavers) in label
    assert str(counts["negative"]) in label
    assert version["config"]["data_range"]["as_of"] in body


def test_both_charts_carry_the_stored_held_out_tables(client_as, version):
    """The reliability plot draws the stored observed shares and mean predictions per bin; the
    lift chart the stored lift per tenth, model beside baseline; the first tenth's lift is the
    model's top-decile figure."""
    body = client_as("admin").get(f"/churn/models/{version['id']}").get_data(as_text=True)
    figures = _figures(body)
    assert len(figures) == 2
    curves = version["config"]["curves"]
    reliability, lift = figures
    ys = [trace["y"] for trace in reliability["data"]]
    assert [b["observed"] for b in curves["reliability"]["model"]] in ys
    assert [b["predicted"] for b in curves["reliability"]["model"]] in ys
    assert [trace["y"] for trace in lift["data"]] == [
        [g["lift"] for g in curves["lift"]["model"]],
        [g["lift"] for g in curves["lift"]["baseline"]]]
    assert curves["lift"]["model"][0]["lift"] == pytest.approx(
        version["metrics"]["lift_top_decile"], abs=0.01)
    assert sum(b["n"] for b in curves["reliability"]["model"]) == version["metrics"]["n_test"]
    assert "/static/crm-charts.js" in body and "cdn" not in body.lower()


@pytest.mark.parametrize("username", ["rm1", "bm1", "teller1", "operator", "auditor"])
def test_roles_without_the_churn_model_permission_get_404(client_as, version, username):
    response = client_as(username).get(f"/churn/models/{version['id']}")
    assert response.status_code == 404
    assert "churn-model-metrics" not in response.get_data(as_text=True)


def test_the_churn_lead_sees_the_page(client_as, version):
    body = client_as("senior").get(f"/churn/models/{version['id']}").get_data(as_text=True)
    assert "churn-model-reliability" in body and "churn-model-lift" in body
    assert f"/churn/models/{version['id']}/activate" in body
