"""Fields that are the target in disguise, found before training (pure: frames in, reasons out).

An imported file often carries the outcome twice (a text column and its 0/1 twin), or a field
filled only for customers who left (a closing reason). A model given such a field scores a
perfect ROC-AUC and learns nothing that helps before a customer leaves. Two tests find them:

* **one-to-one**: a field with few values whose values correspond one-to-one to the target's
  recorded values (or to the left/stayed classes);
* **separation**: the field alone orders leavers above stayers at ROC-AUC >= 0.99, either way.
  A number is used as it is (missing values at whichever end separates better); a category
  through its share of leavers, estimated out of fold, so that a rare category does not
  separate merely by having been counted on itself. Missing is a value of its own: a field
  filled only for leavers separates.

Both run on the training split only: the held-out split judges the model, so it must not
choose the model's features either.
"""
from __future__ import annotations

import numpy as np
from flask_babel import lazy_gettext as _l
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

SEPARATION_AUC = 0.99
MAX_MAPPED_VALUES = 50  # more distinct values than this cannot be a relabelled outcome
MIN_MAPPED_ROWS = 10  # a one-to-one mapping needs this many leavers and stayers to mean anything
FOLDS = 5
MISSING = "\x00missing"


def training_rows(y, *, test_size: float, seed: int) -> np.ndarray:
    """Mask of the rows ``training.train`` fits on: the same stratified split, made with the same
    arguments, of the same labelled rows (in the same order)."""
    y = np.asarray(y, dtype=int)
    fit_rows, _ = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y,
                                   random_state=seed)
    mask = np.zeros(len(y), dtype=bool)
    mask[fit_rows] = True
    return mask


def find(frame: pd.DataFrame, y, keys, columns, categorical, *, seed: int = 42) -> dict:
    """``{column: {"reason": "one_to_one" | "separates", "roc_auc": float}}`` among ``columns``.

    ``frame``, ``y`` (0/1) and ``keys`` (the target's recorded values) hold the training rows.
    """
    y = np.asarray(y, dtype=int)
    keys = pd.Series(np.asarray(keys, dtype=object), index=frame.index)
    found = {}
    for column in columns:
        if column not in frame:
            continue
        values = frame[column]
        if values.dropna().nunique() < 2:
            continue  # constant: training leaves it out anyway
        is_category = column in categorical or values.dtype == object
        if _one_to_one(values, keys, y):
            found[column] = {"reason": "one_to_one",
                             "roc_auc": round(_category_auc(values, y, seed), 4)}
            continue
        auc = _category_auc(values, y, seed) if is_category else _number_auc(values, y)
        if auc >= SEPARATION_AUC:
            found[column] = {"reason": "separates", "roc_auc": round(auc, 4)}
    return found


def reason_text(info: dict) -> str:
    """The reason as stored beside the other exclusions (plain English, like theirs)."""
    if info["reason"] == "one_to_one":
        return "a copy of the target (its values map one-to-one onto the target's)"
    return (f"a function of the target (alone it separates leavers from stayers at "
            f"ROC-AUC {info['roc_auc']:.3f} on the training split)")


def reason_message(info: dict):
    """:func:`reason_text` as a lazy translation, for a training job's progress message."""
    if info["reason"] == "one_to_one":
        return _l("a copy of the target (its values map one-to-one onto the target's)")
    auc = "{:.3f}".format(info["roc_auc"])
    return _l("a function of the target (alone it separates leavers from stayers at ROC-AUC "
              "%(auc)s on the training split)", auc=auc)


def _one_to_one(values: pd.Series, keys: pd.Series, y: np.ndarray) -> bool:
    present = values.notna().to_numpy()
    if min(int(y[present].sum()), int((1 - y[present]).sum())) < MIN_MAPPED_ROWS:
        return False
    shown = values[present].astype(str)
    if shown.nunique() > MAX_MAPPED_VALUES:
        return False
    pairs = pd.DataFrame({"value": shown.to_numpy(), "key": keys[present].astype(str).to_numpy(),
                          "y": y[present]})
    for outcome in ("key", "y"):
        if (pairs.groupby("value")[outcome].nunique().max() == 1
                and pairs.groupby(outcome)["value"].nunique().max() == 1):
            return True
    return False


def _number_auc(values: pd.Series, y: np.ndarray) -> float:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    present = ~np.isnan(numbers)
    if present.all():
        candidates = [numbers]
    else:
        low, high = np.nanmin(numbers) - 1, np.nanmax(numbers) + 1
        candidates = [np.where(present, numbers, low), np.where(present, numbers, high)]
    return max(_two_sided(y, c) for c in candidates)


def _category_auc(values: pd.Series, y: np.ndarray, seed: int) -> float:
    """ROC-AUC of each row's category scored by its leaver share in the other folds."""
    cats = values.astype(object).where(values.notna(), MISSING).astype(str).to_numpy()
    folds = min(FOLDS, int(y.sum()), int((1 - y).sum()))
    if folds < 2:
        return 0.5
    encoded = np.empty(len(y), dtype=float)
    for fit, score in StratifiedKFold(folds, shuffle=True, random_state=seed).split(cats, y):
        shares = pd.Series(y[fit]).groupby(cats[fit]).mean()
        encoded[score] = pd.Series(cats[score]).map(shares).fillna(y[fit].mean()).to_numpy()
    return _two_sided(y, encoded)


def _two_sided(y: np.ndarray, scores: np.ndarray) -> float:
    auc = float(roc_auc_score(y, scores))
    return max(auc, 1.0 - auc)
