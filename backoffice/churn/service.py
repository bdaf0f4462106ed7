"""Training a model version: the use case the command line (and any later screen) calls."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from flask_babel import lazy_gettext as _l

from backoffice.churn import dataset, extract, labels, leakage, registry, training
from backoffice.churn import features as F
from models.base import utcnow

CLOSED_GAP_DAYS = 30  # leavers are described as they were a month before they left


def train_model(session, *, target: str | None = None, positive: str | None = None,
                features=None, seed: int = 42, test_size: float = 0.2, cv_folds: int = 3,
                chunk: int = 20000, as_of: dt.datetime | None = None, sample: int | None = None,
                created_by_id=None, log=print):
    """Train, evaluate and store the next version (inactive). Raises FeatureError/TrainingError
    with a clear message when the target, its positive value, a feature or the data does not
    allow it. ``positive`` is the target value meaning "left" (a choice's value or label);
    ``sample`` stops after that many customers (lowest ids first).

    The stored version's ``training_config`` holds what a reader needs to trust it: ``label``
    (definition and counts: left, stayed, missing and excluded, per recorded value),
    ``leakage`` (fields left out as copies or functions of the target, with their figures),
    ``excluded`` (every left-out column with its reason) and ``feature_kinds``.
    """
    definition, target_spec = dataset.resolve_target(session, target, positive)
    exclude = (target_spec.key,) if target_spec is not None else ()
    if features:
        selection, source = dataset.resolve(session, features, exclude=exclude), "--features"
    else:
        selection, source = dataset.default_selection(session, exclude=exclude)
    # Each line a lazy translation: the training job stores it as its progress message (read
    # in the job-run page's language); the command line prints it.
    log(_l("Target: %(rule)s", rule=definition.describe_message()))
    log(_l("Features: built-in behaviour and profile + %(count)s chosen (%(source)s)",
           count=len(selection.custom) + len(selection.standard), source=source))
    snapshot = extract.Snapshot(
        as_of=as_of or utcnow(),
        closed_gap_days=CLOSED_GAP_DAYS if target_spec is None else None)
    frame, y, keys, counts = _labelled_frame(session, snapshot, selection, definition,
                                             chunk=chunk, sample=sample)
    log(_l("Labels: %(left)s left, %(stayed)s stayed, %(missing)s left out (target missing); "
           "per value: %(values)s", left=counts.positive, stayed=counts.negative,
           missing=counts.missing, values=counts.shown_values_message()))
    leaks = _leaks(frame, y, keys, selection, seed=seed, test_size=test_size)
    for column, info in leaks.items():
        log(_l("Left out %(column)s: %(reason)s", column=column,
               reason=leakage.reason_message(info)))
    kept = frame.drop(columns=list(leaks))
    categorical = [c for c in selection.categorical if c not in leaks]
    result = training.train(kept, y, categorical, seed=seed, test_size=test_size,
                            cv_folds=cv_folds, log=log)
    excluded = {**{c: leakage.reason_text(info) for c, info in leaks.items()}, **result.excluded}
    notes = {"label": {**definition.as_config(), "counts": counts.as_dict()},
             "leakage": leaks, "excluded": excluded,
             "feature_kinds": dataset.feature_kinds(result.features, result.categorical,
                                                    selection)}
    row = registry.store(session, result, target=definition.target,
                         selection_config=selection.as_config(), created_by_id=created_by_id,
                         notes=notes)
    return row, result


def _labelled_frame(session, snapshot, selection, definition, *, chunk, sample):
    """``(features, y, target keys, counts)`` of every customer, labels checked."""
    frames, ys, keys, counts = [], [], [], labels.LabelCounts()
    for lo, hi in extract.id_chunks(session, chunk):
        customers, frame = dataset.chunk_features(session, snapshot, selection, lo, hi,
                                                  with_json=definition.field_key is not None)
        if frame.empty:
            continue
        chunk_y, chunk_keys = dataset.target_values(customers, definition)
        counts.add(chunk_y, chunk_keys)
        frames.append(frame)
        ys.append(chunk_y)
        keys.append(chunk_keys)
        if sample and sum(len(f) for f in frames) >= sample:
            break
    if not frames:
        raise training.TrainingError(_l("there are no customers to learn from"))
    try:
        labels.check(definition, counts)
    except labels.LabelError as exc:
        raise dataset.FeatureError(exc.message) from exc
    frame, y, key = pd.concat(frames), pd.concat(ys), pd.concat(keys)
    y.index = key.index = frame.index
    return frame, y, key, counts


def _leaks(frame, y, keys, selection, *, seed, test_size) -> dict:
    """Chosen fields that copy the target, judged on the rows training will fit on."""
    known = y.notna().to_numpy()
    labelled = y[known].astype(int).to_numpy()
    positives = int(labelled.sum())
    if min(positives, len(labelled) - positives) < training.MIN_CLASS_ROWS:
        return {}  # training refuses these data with the counts; nothing to judge
    fit = leakage.training_rows(labelled, test_size=test_size, seed=seed)
    columns = [c for c in selection.names if c not in F.BUILTIN]
    return leakage.find(frame.loc[known].iloc[fit], labelled[fit],
                        keys[known].to_numpy()[fit], columns, selection.categorical, seed=seed)
