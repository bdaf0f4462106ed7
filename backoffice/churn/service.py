"""Training a model version: the use case the command line (and any later screen) calls."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from backoffice.churn import dataset, extract, registry, training
from models.base import utcnow

CLOSED_GAP_DAYS = 30  # leavers are described as they were a month before they left


def train_model(session, *, target: str | None = None, features=None, seed: int = 42,
                test_size: float = 0.2, cv_folds: int = 3, chunk: int = 20000,
                as_of: dt.datetime | None = None, sample: int | None = None,
                created_by_id=None, log=print):
    """Train, evaluate and store the next version (inactive). Raises FeatureError/TrainingError
    with a clear message when the target, a feature or the data does not allow it.
    ``sample`` stops after that many customers (lowest ids first)."""
    target_code, target_spec = dataset.resolve_target(session, target)
    exclude = (target_spec.key,) if target_spec is not None else ()
    if features:
        selection, source = dataset.resolve(session, features, exclude=exclude), "--features"
    else:
        selection, source = dataset.default_selection(session, exclude=exclude)
    log(f"target: {target_code}; features: built-in behaviour and profile + "
        f"{len(selection.custom) + len(selection.standard)} chosen ({source})")
    snapshot = extract.Snapshot(
        as_of=as_of or utcnow(),
        closed_gap_days=CLOSED_GAP_DAYS if target_code == "status:closed" else None)
    frames, labels = [], []
    for lo, hi in extract.id_chunks(session, chunk):
        customers, frame = dataset.chunk_features(session, snapshot, selection, lo, hi,
                                                  with_json=target_spec is not None)
        if frame.empty:
            continue
        frames.append(frame)
        labels.append(dataset.target_values(customers, target_code, target_spec))
        if sample and sum(len(f) for f in frames) >= sample:
            break
    if not frames:
        raise training.TrainingError("there are no customers to learn from")
    frame, y = pd.concat(frames), pd.concat(labels)
    y.index = frame.index
    result = training.train(frame, y, selection.categorical, seed=seed, test_size=test_size,
                            cv_folds=cv_folds, log=log)
    for column, why in result.excluded.items():
        log(f"left out {column}: {why}")
    row = registry.store(session, result, target=target_code,
                         selection_config=selection.as_config(), created_by_id=created_by_id)
    return row, result
