"""Probabilities and occlusion reasons of a stored model, with the input encoded once.

A stored model is ``CalibratedClassifierCV`` around a pipeline (encoder steps, then the booster).
Its ``predict_proba`` encodes the frame it is given, asks the booster for its decision function
and maps that through the calibrator. Occlusion (``backoffice.churn.reasons``) predicts the same
rows again with one feature at a time set to its typical value: through ``predict_proba`` every
one of those stacked rows is built as a pandas frame and encoded again, which costs far more than
the trees. Here the rows are encoded once, the typical values are encoded once, and the occluded
rows are made by overwriting one encoded column — the encoders work column by column and row by
row, so that is the same matrix ``predict_proba`` would have built — and go straight to the
booster and the calibrator (scikit-learn's own ``_CalibratedClassifier``, so the arithmetic is
theirs). A model of another shape is scored through its ``predict_proba`` (same results, slower).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Stacked occluded rows per booster call: bounds memory at a million customers.
STACK_ROWS = 250000


@dataclass
class _Part:
    """One calibrated classifier: its encoder, calibrated booster, and input → encoded column."""

    encoder: object
    calibrated: object
    position: np.ndarray


class Predictor:
    """``probability(x)`` and ``occlusion_impacts(x, reference_values)`` of one stored model."""

    def __init__(self, model, features: list[str]):
        self.model = model
        self.features = list(features)
        self.parts = _parts(model, self.features)

    @property
    def fast(self) -> bool:
        return self.parts is not None

    def probability(self, x: pd.DataFrame) -> np.ndarray:
        if not self.fast:
            return self.model.predict_proba(x)[:, 1]
        return self._probability([part.encoder.transform(x) for part in self.parts])

    def _probability(self, encoded: list[np.ndarray]) -> np.ndarray:
        total = None
        for part, matrix in zip(self.parts, encoded):
            p = part.calibrated.predict_proba(matrix)[:, 1]
            total = p if total is None else total + p
        return total / len(self.parts)

    def occlusion_impacts(self, x: pd.DataFrame, reference_values: dict,
                          base: np.ndarray | None = None) -> np.ndarray:
        """Rows × features: probability minus probability with that feature at its typical value
        (zero where the row already has it). ``base``: the rows' probabilities, if known."""
        from backoffice.churn.reasons import changed_rows, occlusion_impacts

        if not self.fast or list(x.columns) != self.features:
            return occlusion_impacts(self.model, x, reference_values)
        impacts = np.zeros((len(x), x.shape[1]))
        if x.empty:
            return impacts
        reference = _reference_row(x, reference_values)
        encoded = [part.encoder.transform(x) for part in self.parts]
        encoded_reference = [part.encoder.transform(reference)[0] for part in self.parts]
        if base is None:
            base = self._probability(encoded)
        pending: list[tuple[int, np.ndarray]] = []
        for j, column in enumerate(x.columns):
            rows = changed_rows(x[column], reference_values.get(column, np.nan))
            for start in range(0, len(rows), STACK_ROWS):
                pending.append((j, rows[start:start + STACK_ROWS]))
                if sum(len(r) for _, r in pending) >= STACK_ROWS:
                    self._occlude(pending, encoded, encoded_reference, base, impacts)
                    pending = []
        if pending:
            self._occlude(pending, encoded, encoded_reference, base, impacts)
        return impacts

    def _occlude(self, pending, encoded, encoded_reference, base, impacts) -> None:
        stacks = []
        for part, matrix, reference in zip(self.parts, encoded, encoded_reference):
            pieces = []
            for j, rows in pending:
                piece = matrix[rows].copy()
                column = part.position[j]
                piece[:, column] = reference[column]
                pieces.append(piece)
            stacks.append(np.concatenate(pieces))
        occluded = self._probability(stacks)
        start = 0
        for j, rows in pending:
            impacts[rows, j] = base[rows] - occluded[start:start + len(rows)]
            start += len(rows)


def _reference_row(x: pd.DataFrame, reference_values: dict) -> pd.DataFrame:
    """One row of typical values with the frame's columns and dtypes."""
    row = x.iloc[:1].copy()
    for column in x.columns:
        row[column] = reference_values.get(column, np.nan)
    return row.astype(x.dtypes.to_dict())


def _parts(model, features: list[str]):
    """The model split into encoder and calibrated booster, or ``None`` (another shape)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline

    try:
        from sklearn.calibration import _CalibratedClassifier
    except ImportError:  # a scikit-learn without the private class: the slow, same path
        return None
    if not isinstance(model, CalibratedClassifierCV):
        return None
    parts = []
    for calibrated in getattr(model, "calibrated_classifiers_", []):
        pipeline = getattr(calibrated, "estimator", None)
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
            return None
        encoder, booster = pipeline[:-1], pipeline.steps[-1][1]
        try:
            names = [str(n) for n in encoder.get_feature_names_out()]
        except (AttributeError, ValueError, TypeError):
            return None
        if len(names) != len(features) or set(names) != set(features):
            return None  # not one encoded column per input feature: cannot occlude in place
        parts.append(_Part(
            encoder=encoder,
            calibrated=_CalibratedClassifier(booster, calibrated.calibrators,
                                             classes=calibrated.classes,
                                             method=calibrated.method),
            position=np.asarray([names.index(f) for f in features])))
    return parts or None
