"""Rule signals, bands and the value × risk matrix (pure: feature frames and numbers in).

Rule signals need no model and explain themselves ("transactions down 52% on the prior 90
days"); they also keep the warnings working before any model is trained. A customer's risk band
comes from the model's probability, raised by signals: one signal makes the risk at least
medium, two or more make it high. The warning tier then crosses risk with value:

=========  ===========  =============  ==========
risk       high value   medium value   low value
=========  ===========  =============  ==========
high       P1           P2             P3
medium     P2           P3             P4
low        P4           P4             P4
=========  ===========  =============  ==========
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BAND_ORDER = {"low": 0, "medium": 1, "high": 2}
BANDS = ("low", "medium", "high")
TIER_MATRIX = {
    ("high", "high"): "P1", ("high", "medium"): "P2", ("high", "low"): "P3",
    ("medium", "high"): "P2", ("medium", "medium"): "P3", ("medium", "low"): "P4",
    ("low", "high"): "P4", ("low", "medium"): "P4", ("low", "low"): "P4",
}
DEFAULT_RISK_BANDS = {"high": 0.5, "medium": 0.25}  # calibrated probability thresholds
# Value: total financial assets (CNY) or 12-month transaction volume (the contribution proxy).
DEFAULT_VALUE_BANDS = {"high": {"assets": 500000, "volume": 2000000},
                       "medium": {"assets": 50000, "volume": 300000}}


@dataclass(frozen=True)
class Rule:
    code: str
    enabled: bool = True
    threshold: float = 0.0
    window_days: int = 90
    min_value_band: str | None = None


DEFAULT_RULES = {
    "frequency_drop": Rule("frequency_drop", True, 0.5, 90),
    "net_outflow": Rule("net_outflow", True, 0.3, 60, "high"),
    "no_response": Rule("no_response", True, 3.0, 180),
    "complaint": Rule("complaint", True, 1.0, 30),
    "satisfaction_drop": Rule("satisfaction_drop", True, 2.0, 90),
}
# The windows the features are computed for; a rule uses the nearest one at or above its own.
WINDOWS = {"frequency_drop": (30, 90), "net_outflow": (30, 60, 90), "complaint": (30, 90)}


def window_for(rule: Rule) -> int | None:
    options = WINDOWS.get(rule.code)
    if not options:
        return None
    return next((w for w in options if w >= rule.window_days), options[-1])


def rule_values(rule: Rule, features: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(fired, observed value) of one rule for every customer."""
    window = window_for(rule)
    if rule.code == "frequency_drop":
        change = features[f"tx_count_change_{window}d"]
        return change <= -rule.threshold, change
    if rule.code == "net_outflow":
        ratio = features[f"net_outflow_ratio_{window}d"]
        return ratio >= rule.threshold, ratio
    if rule.code == "no_response":
        count = features["unanswered_contacts"]
        return count >= rule.threshold, count
    if rule.code == "complaint":
        # A flagged interaction or a complaint case (cases never repeat a flagged interaction).
        count = features[f"complaints_{window}d"].fillna(0)
        cases = f"complaint_cases_{window}d"
        if cases in features:
            count = count + features[cases].fillna(0)
        return count >= rule.threshold, count
    if rule.code == "satisfaction_drop":
        change = features["satisfaction_change"]
        return change.fillna(0) <= -rule.threshold, change
    raise ValueError(f"unknown rule signal {rule.code}")


def evaluate_signals(features: pd.DataFrame, value_bands: pd.Series,
                     rules: dict[str, Rule]) -> list[list[dict]]:
    """Per customer (in frame order), the signals that fired with value and threshold."""
    fired_lists: list[list[dict]] = [[] for _ in range(len(features))]
    bands = value_bands.map(BAND_ORDER).to_numpy()
    for rule in rules.values():
        if not rule.enabled:
            continue
        fired, observed = rule_values(rule, features)
        mask = fired.fillna(False).to_numpy(dtype=bool).copy()
        if rule.min_value_band:
            mask &= bands >= BAND_ORDER[rule.min_value_band]
        values = observed.to_numpy(dtype=float)
        for position in np.flatnonzero(mask):
            fired_lists[position].append({"code": rule.code,
                                          "value": round(float(values[position]), 4),
                                          "threshold": rule.threshold})
    return fired_lists


def value_bands(features: pd.DataFrame, thresholds: dict | None = None,
                marked: pd.DataFrame | None = None) -> pd.Series:
    """high / medium / low from assets or 12-month volume (whichever ranks higher).

    ``marked`` (aligned on the features' index) holds the ``assets`` and ``volume`` of the
    customer fields counted toward them (``backoffice.churn.value``), added to the accounts'
    and transactions' figures: the financial assets tiers and the rule builder use too.
    """
    thresholds = thresholds or DEFAULT_VALUE_BANDS
    assets = features["assets"].fillna(0).to_numpy(dtype=float)
    volume = features["volume_365d"].fillna(0).to_numpy(dtype=float)
    if marked is not None:
        aligned = marked.reindex(features.index).fillna(0.0)
        assets = assets + aligned["assets"].to_numpy(dtype=float)
        volume = volume + aligned["volume"].to_numpy(dtype=float)
    high = (assets >= thresholds["high"]["assets"]) | (volume >= thresholds["high"]["volume"])
    medium = (assets >= thresholds["medium"]["assets"]) | (
        volume >= thresholds["medium"]["volume"])
    return pd.Series(np.where(high, "high", np.where(medium, "medium", "low")),
                     index=features.index)


def risk_bands(probability, signal_counts, thresholds: dict | None = None) -> np.ndarray:
    """Band of the probability (missing: low), raised by the number of signals that fired."""
    thresholds = thresholds or DEFAULT_RISK_BANDS
    p = np.nan_to_num(np.asarray(probability, dtype=float), nan=0.0)
    level = np.where(p >= thresholds["high"], 2, np.where(p >= thresholds["medium"], 1, 0))
    counts = np.asarray(signal_counts, dtype=int)
    level = np.maximum(level, np.where(counts >= 2, 2, np.where(counts >= 1, 1, 0)))
    return np.asarray(BANDS, dtype=object)[level]


def warning_tiers(risk, value) -> np.ndarray:
    """The tier of every (risk, value) pair, one vector comparison per matrix cell."""
    risk, value = np.asarray(risk, dtype=object), np.asarray(value, dtype=object)
    out = np.full(len(risk), None, dtype=object)
    for (r, v), tier in TIER_MATRIX.items():
        out[(risk == r) & (value == v)] = tier
    unknown = np.flatnonzero(np.equal(out, None))
    if len(unknown):
        raise KeyError((risk[unknown[0]], value[unknown[0]]))
    return out
