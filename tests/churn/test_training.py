"""Training, evaluation and occlusion reasons on synthetic data (backoffice.churn.training,
reasons): generic over whatever columns are given, honest about what it leaves out."""
import numpy as np
import pandas as pd
import pytest

from backoffice.churn import reasons, training


def synthetic(n=1200, seed=0):
    """Churn driven by a frequency drop and a category; noise and an id column beside them."""
    rng = np.random.default_rng(seed)
    drop = rng.uniform(-1, 0.5, n)
    region = rng.choice(["north", "south", "east"], n)
    noise = rng.normal(size=n)
    logit = -1.5 - 3.0 * drop + np.where(region == "south", 1.0, 0.0)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(float)
    frame = pd.DataFrame({"tx_count_change_90d": drop, "cf.region": region, "cf.noise": noise,
                          "cf.row_number": np.arange(n, dtype=float), "cf.constant": 1.0},
                         index=np.arange(1, n + 1))
    return frame, pd.Series(y, index=frame.index)


@pytest.fixture(scope="module")
def trained():
    frame, y = synthetic()
    return training.train(frame, y, ["cf.region"], seed=7, cv_folds=2, log=lambda line: None)


def test_held_out_figures_and_exclusions(trained):
    """The model beats chance clearly, every figure is stored, identifiers and constants out."""
    m = trained.metrics
    assert set(m) == {"roc_auc", "pr_auc", "brier", "lift_top_decile", "n_test",
                      "positives_test"}
    assert m["roc_auc"] > 0.75 and m["lift_top_decile"] > 1.5
    assert 0 < m["brier"] < 0.25
    assert trained.baseline_metrics["roc_auc"] > 0.7
    assert trained.excluded == {"cf.row_number": "an identifier (every value distinct)",
                                "cf.constant": "constant"}
    assert trained.features == ["cf.region", "tx_count_change_90d", "cf.noise"]
    assert trained.config["split"] == {"test_size": 0.2, "stratified": True, "seed": 7,
                                       "train_rows": 960, "test_rows": 240}
    assert set(trained.config["chosen"]) == {"max_leaf_nodes", "min_samples_leaf",
                                             "l2_regularization", "learning_rate", "max_iter"}
    # The ensemble is one of the offered sizes, and no worse in CV than the tolerance allows.
    assert (trained.config["chosen"]["learning_rate"], trained.config["chosen"]["max_iter"]) in {
        (0.05, 600), (0.1, 150)}
    assert trained.config["cv_roc_auc"] >= trained.config["cv_best_roc_auc"] - 0.001


def test_too_few_outcomes_are_refused_with_the_counts():
    frame, y = synthetic(100)
    y[:] = 0.0
    y.iloc[:5] = 1.0
    with pytest.raises(training.TrainingError, match="100 customers .* 5 of them left"):
        training.train(frame, y, ["cf.region"], log=lambda line: None)


def test_occlusion_names_the_feature_that_drives_the_score(trained):
    """A customer whose frequency fell sharply: that feature is the first reason."""
    frame, _ = synthetic(50, seed=3)
    x = training.model_input(frame.assign(tx_count_change_90d=-0.95), trained.features,
                             trained.categorical)
    impacts = reasons.occlusion_impacts(trained.model, x, trained.reference_values)
    found = reasons.top_reasons(impacts, x)
    firsts = [r[0]["feature"] for r in found if r]
    assert firsts.count("tx_count_change_90d") >= 0.8 * len(found)
    assert all(len(r) <= 3 and all(item["impact"] > 0 for item in r) for r in found)


def test_the_smallest_ensemble_within_the_tolerance_is_refit():
    """Grid candidates as good as the best (within 0.001 CV ROC-AUC): the fewest trees win;
    a clearly better large ensemble still beats a small one."""
    from backoffice.churn.training import smallest_of_the_best

    close = {"mean_test_score": [0.8618, 0.8623, 0.8610], "param_model__max_iter": [600, 150, 150]}
    assert smallest_of_the_best(close) == 1
    tie = {"mean_test_score": [0.9990, 0.9985], "param_model__max_iter": [600, 150]}
    assert smallest_of_the_best(tie) == 1
    apart = {"mean_test_score": [0.870, 0.860], "param_model__max_iter": [600, 150]}
    assert smallest_of_the_best(apart) == 0


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(1)
    scores = rng.beta(2, 5, 5000)
    reference = training.score_histogram(scores)
    assert training.psi(reference, rng.beta(2, 5, 5000)) < 0.02
    assert training.psi(reference, rng.beta(5, 2, 5000)) > 0.5


def test_predictor_gives_the_models_own_probabilities_and_occlusion(trained):
    """The fast path (rows encoded once, occluded in the encoded matrix) is not an approximation:
    its probabilities and occlusion impacts are those of ``predict_proba`` on the frames, for
    rows with missing values and an unknown category too; a model of another shape falls back."""
    from backoffice.churn.predictor import Predictor

    frame, _ = synthetic(300, seed=5)
    frame.loc[frame.index[:10], "tx_count_change_90d"] = np.nan
    frame.loc[frame.index[10:20], "cf.region"] = "west"  # never seen in training
    frame.loc[frame.index[20:30], "cf.region"] = np.nan
    x = training.model_input(frame, trained.features, trained.categorical)
    predictor = Predictor(trained.model, trained.features)
    assert predictor.fast
    expected = trained.model.predict_proba(x)[:, 1]
    np.testing.assert_allclose(predictor.probability(x), expected, rtol=0, atol=1e-12)
    slow = reasons.occlusion_impacts(trained.model, x, trained.reference_values)
    fast = predictor.occlusion_impacts(x, trained.reference_values)
    assert np.abs(slow).max() > 0.05  # the comparison is not between two zero matrices
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    assert reasons.top_reasons(fast, x) == reasons.top_reasons(slow, x)
    baseline = Predictor(trained.baseline, trained.features)
    assert not baseline.fast
    np.testing.assert_allclose(baseline.probability(x), trained.baseline.predict_proba(x)[:, 1])


def test_top_reasons_are_the_largest_positive_impacts_in_order():
    x = pd.DataFrame({"a": [1.0, 2.0], "b": ["u", "v"], "c": [3.0, np.nan]})
    impacts = np.array([[0.10, 0.30, 0.001], [-0.2, 0.02, 0.02]])
    assert reasons.top_reasons(impacts, x) == [
        [{"feature": "b", "impact": 0.3, "value": "u"},
         {"feature": "a", "impact": 0.1, "value": 1.0}],
        [{"feature": "b", "impact": 0.02, "value": "v"},
         {"feature": "c", "impact": 0.02, "value": None}]]
