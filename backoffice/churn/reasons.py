"""Top reasons by occlusion: which features pushed a customer's probability up.

Model-agnostic and simple to explain: for each feature, replace the customer's value by the
training population's typical value (median for numbers, most common value for categories) and
predict again. The drop in probability is that feature's contribution; the three largest
positive ones are the reasons. It costs up to one prediction per feature per customer, so
scoring computes it for customers whose risk is not low and every P1/P2 customer
(``reasons_for="elevated"``), the ones a warning shows, and predicts the occluded rows through
``backoffice.churn.predictor`` (encoded once; the same numbers as :func:`occlusion_impacts`,
which works on any model with ``predict_proba`` and is the reference the tests compare with).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TOP = 3
MIN_IMPACT = 0.005  # smaller contributions than half a point are noise, not reasons


def occlusion_impacts(model, x: pd.DataFrame, reference_values: dict) -> np.ndarray:
    """Matrix (rows × features): probability minus probability with that feature occluded.

    Two predictions for the whole chunk, not one per customer: the base one, and one over a
    stacked matrix holding, for every feature, the rows whose value differs from the reference
    with that feature set to it. A row that already has the typical value would predict the
    same probability, so it is not predicted again (its impact is exactly zero) — most
    customers have no complaint, no closed product and so on, which makes the stack a fraction
    of rows × features.
    """
    if x.empty:
        return np.zeros((0, x.shape[1]))
    base = model.predict_proba(x)[:, 1]
    impacts = np.zeros((len(x), x.shape[1]))
    pieces, targets = [], []
    for j, column in enumerate(x.columns):
        reference = reference_values.get(column, np.nan)
        differs = _differs(x[column], reference)
        if not differs.any():
            continue
        piece = x.loc[differs].copy()
        piece[column] = reference
        pieces.append(piece)
        targets.append((j, np.flatnonzero(differs)))
    if not pieces:
        return impacts
    occluded = model.predict_proba(pd.concat(pieces, ignore_index=True))[:, 1]
    start = 0
    for j, rows in targets:
        impacts[rows, j] = base[rows] - occluded[start:start + len(rows)]
        start += len(rows)
    return impacts


def changed_rows(values: pd.Series, reference) -> np.ndarray:
    """Positions whose value is not the reference: the only rows occluding can change."""
    return np.flatnonzero(_differs(values, reference))


def _differs(values: pd.Series, reference) -> np.ndarray:
    """Which values are not the reference (missing and missing count as the same)."""
    missing = values.isna().to_numpy()
    if reference is None or (isinstance(reference, float) and np.isnan(reference)):
        return ~missing
    return missing | (values.to_numpy() != reference)


def top_reasons(impacts: np.ndarray, x: pd.DataFrame, top: int = TOP) -> list[list[dict]]:
    """Per row, up to ``top`` features with a positive contribution, largest first (ties: the
    earlier column)."""
    columns = list(x.columns)
    out: list[list[dict]] = [[] for _ in range(len(impacts))]
    if not len(impacts):
        return out
    arrays = [x[c].to_numpy() for c in columns]
    order = np.argsort(-impacts, axis=1, kind="stable")[:, :top]
    chosen = np.take_along_axis(impacts, order, axis=1)
    for row, rank in zip(*np.nonzero(chosen >= MIN_IMPACT)):  # row-major: ranks in order
        j = order[row, rank]
        out[row].append({"feature": columns[j], "impact": round(float(chosen[row, rank]), 4),
                         "value": _plain(arrays[j][row])})
    return out


def _plain(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (np.floating, float)):
        return round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return str(value)
