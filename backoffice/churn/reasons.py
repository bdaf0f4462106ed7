"""Top reasons by occlusion: which features pushed a customer's probability up.

Model-agnostic and simple to explain: for each feature, replace the customer's value by the
training population's typical value (median for numbers, most common value for categories) and
predict again. The drop in probability is that feature's contribution; the three largest
positive ones are the reasons. It costs up to one prediction per feature per customer (batched
into one ``predict_proba`` call per chunk), so scoring computes it for customers whose risk is
not low (``reasons_for="elevated"``), the ones a warning shows.
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


def _differs(values: pd.Series, reference) -> np.ndarray:
    """Which values are not the reference (missing and missing count as the same)."""
    missing = values.isna().to_numpy()
    if reference is None or (isinstance(reference, float) and np.isnan(reference)):
        return ~missing
    return missing | (values.to_numpy() != reference)


def top_reasons(impacts: np.ndarray, x: pd.DataFrame, top: int = TOP) -> list[list[dict]]:
    """Per row, up to ``top`` features with a positive contribution, largest first."""
    columns = list(x.columns)
    values = x.to_numpy(dtype=object)
    out = []
    for row, row_impacts in enumerate(impacts):
        order = np.argsort(-row_impacts, kind="stable")[:top]
        out.append([{"feature": columns[j], "impact": round(float(row_impacts[j]), 4),
                     "value": _plain(values[row, j])}
                    for j in order if row_impacts[j] >= MIN_IMPACT])
    return out


def _plain(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (np.floating, float)):
        return round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return str(value)
