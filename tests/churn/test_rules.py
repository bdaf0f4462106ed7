"""Rule signals, bands and the value × risk matrix (backoffice.churn.rules)."""
import numpy as np
import pandas as pd

from backoffice.churn import rules as R


def frame(**columns):
    base = {name: [0.0] for name in ("tx_count_change_30d", "tx_count_change_90d",
                                      "net_outflow_ratio_30d", "net_outflow_ratio_60d",
                                      "net_outflow_ratio_90d", "unanswered_contacts",
                                      "complaints_30d", "complaints_90d", "satisfaction_change",
                                      "assets", "volume_365d")}
    base.update({k: [v] for k, v in columns.items()})
    return pd.DataFrame(base)


def test_each_default_signal_fires_at_its_threshold_and_not_below():
    cases = {
        "frequency_drop": ({"tx_count_change_90d": -0.5}, {"tx_count_change_90d": -0.49}),
        "no_response": ({"unanswered_contacts": 3}, {"unanswered_contacts": 2}),
        "complaint": ({"complaints_30d": 1}, {"complaints_30d": 0}),
        "satisfaction_drop": ({"satisfaction_change": -2.0}, {"satisfaction_change": -1.5}),
    }
    for code, (fires, quiet) in cases.items():
        rule = {code: R.DEFAULT_RULES[code]}
        low = pd.Series(["low"])
        assert R.evaluate_signals(frame(**fires), low, rule)[0][0]["code"] == code
        assert R.evaluate_signals(frame(**quiet), low, rule) == [[]]


def test_net_outflow_only_counts_for_high_value_customers():
    rule = {"net_outflow": R.DEFAULT_RULES["net_outflow"]}
    data = frame(net_outflow_ratio_60d=0.4)
    assert R.evaluate_signals(data, pd.Series(["medium"]), rule) == [[]]
    assert R.evaluate_signals(data, pd.Series(["high"]), rule)[0][0]["code"] == "net_outflow"


def test_a_disabled_rule_never_fires_and_a_changed_threshold_is_used():
    data = frame(tx_count_change_90d=-0.3)
    low = pd.Series(["low"])
    assert R.evaluate_signals(data, low, {"f": R.Rule("frequency_drop", True, 0.25, 90)})[0]
    assert R.evaluate_signals(data, low, {"f": R.Rule("frequency_drop", False, 0.25, 90)}) == [[]]


def test_signals_raise_the_risk_band_and_the_matrix_gives_tiers():
    risk = R.risk_bands([0.1, 0.1, 0.1, 0.6, np.nan], [0, 1, 2, 0, 1])
    assert list(risk) == ["low", "medium", "high", "high", "medium"]
    tiers = R.warning_tiers(["high", "high", "medium", "high", "low"],
                            ["high", "medium", "medium", "low", "high"])
    assert list(tiers) == ["P1", "P2", "P3", "P3", "P4"]


def test_value_band_from_assets_or_volume():
    data = pd.DataFrame({"assets": [600000.0, 1000.0, 60000.0, 0.0],
                         "volume_365d": [0.0, 2500000.0, 0.0, 1000.0]})
    assert list(R.value_bands(data)) == ["high", "high", "medium", "low"]
