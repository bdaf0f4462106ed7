"""Which features a model uses, and the feature frames of chunks of customers.

A model is generic over the bank's data: besides the built-in behaviour features it takes any
standard customer column or custom field an admin marks (the ``model_features`` setting, or
``--features`` on the command line). Custom fields are described by the one field catalogue
(``backoffice.fields.registry``); their values are read from ``customer.custom_fields``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from flask_babel import lazy_gettext as _l

from backoffice import stored_text
from backoffice.churn import extract, labels
from backoffice.churn import features as F

MODEL_FEATURES_SETTING = "model_features"
USABLE_CUSTOM_TYPES = ("integer", "decimal", "money", "boolean", "choice", "multi_choice",
                       "text", "date")
CATEGORICAL_CUSTOM_TYPES = ("choice", "multi_choice", "text")


class FeatureError(ValueError):
    """A feature or target name that does not exist or cannot be used (a clear message)."""


    @property
    def message(self):
        """The reason as raised: a lazy translation (or several ``joined``), so that a job can
        store it as a message id and each reader sees it in their own language; ``str()`` gives
        it in the current language."""
        return self.args[0] if self.args else ""


@dataclass(frozen=True)
class Selection:
    """The fields beyond the built-ins: custom field specs and standard column names."""

    custom: tuple = ()
    standard: tuple = ()

    @property
    def names(self) -> list[str]:
        return (list(F.BUILTIN) + [F.standard_column(n) for n in self.standard]
                + [F.field_column(s.key) for s in self.custom])

    @property
    def categorical(self) -> list[str]:
        return (list(F.BUILTIN_CATEGORICAL)
                + [F.standard_column(n) for n in self.standard
                   if extract.STANDARD_FEATURE_COLUMNS[n] == "categorical"]
                + [F.field_column(s.key) for s in self.custom
                   if s.type in CATEGORICAL_CUSTOM_TYPES])

    def as_config(self) -> dict:
        return {"custom": [s.key for s in self.custom], "standard": list(self.standard)}


def _catalog(session):
    from backoffice.fields.registry import field_catalog

    return {spec.key: spec for spec in field_catalog("customer", session=session)}


def find_spec(catalog: dict, name: str):
    """A field by key, or case-insensitively by key or label (an imported column ``Exited``
    becomes the field ``exited`` labelled "Exited")."""
    if name in catalog:
        return catalog[name]
    wanted = name.strip().lower()
    for spec in catalog.values():
        names = (spec.key, spec.label_en or "", spec.label_zh or "", spec.key.replace("_", ""))
        if wanted in (n.lower() for n in names):
            return spec
    return None


def resolve(session, names, *, exclude=()) -> Selection:
    """Names given by an admin (``Balance``, ``cf.Balance``, ``customer.flag_vip``) as a
    selection; an unknown or unusable name is refused with the reason."""
    catalog = _catalog(session)
    custom, standard, problems = [], [], []
    for raw in names:
        name = raw.strip()
        if not name or name in F.BUILTIN:
            continue
        if name.startswith("customer."):
            column = name.split(".", 1)[1]
            if column in extract.STANDARD_FEATURE_COLUMNS:
                standard.append(column)
            else:
                problems.append(_l("%(name)s: not a standard column models may use (choose "
                                   "from %(columns)s)", name=name,
                                   columns=", ".join(sorted(extract.STANDARD_FEATURE_COLUMNS))))
            continue
        key = name[3:] if name.startswith("cf.") else name
        spec = find_spec(catalog, key)
        if spec is None:
            if key in extract.STANDARD_FEATURE_COLUMNS:
                standard.append(key)
            else:
                problems.append(_l("%(name)s: no such active customer field", name=name))
        elif spec.key in exclude:
            problems.append(_l("%(name)s: is the target, it cannot also be a feature",
                               name=name))
        elif spec.sensitive:
            problems.append(_l("%(name)s: is a sensitive (encrypted) field; models do not "
                               "read it", name=name))
        elif spec.type not in USABLE_CUSTOM_TYPES:
            problems.append(_l("%(name)s: fields of type %(type)s cannot be model features",
                               name=name, type=spec.type))
        else:
            custom.append(spec)
    if problems:
        raise FeatureError(stored_text.joined("; ", problems))
    return Selection(custom=tuple(dict.fromkeys(custom)), standard=tuple(dict.fromkeys(standard)))


def default_selection(session, *, exclude=()) -> tuple:
    """The admin's marked fields, or (none marked) every usable non-sensitive custom field.

    Returns the selection and a sentence saying where it came from (printed by the CLI and
    shown as a training job's progress: a lazy translation).
    """
    from models.churn import ChurnSetting

    setting = session.get(ChurnSetting, MODEL_FEATURES_SETTING)
    marked = (setting.value or {}).get("features") if setting is not None else None
    if marked:
        return resolve(session, marked, exclude=exclude), _l("fields marked as model features")
    specs = [s for s in _catalog(session).values()
             if s.key not in exclude and not s.sensitive and s.type in USABLE_CUSTOM_TYPES]
    return Selection(custom=tuple(specs)), _l("every usable custom field (none marked)")


def chunk_features(session, snapshot: extract.Snapshot, selection: Selection, lo: int,
                   hi: int, *, where=None, with_json: bool = False):
    """``(customers, features)`` of the customers with ids in [lo, hi] (and ``where``)."""
    customers = extract.customer_rows(session, snapshot, lo, hi,
                                      custom_json=with_json or bool(selection.custom),
                                      standard=selection.standard, where=where)
    if customers.empty:
        return customers, pd.DataFrame()
    tx = extract.transaction_aggregates(session, snapshot, lo, hi)
    accounts = extract.account_aggregates(session, snapshot, lo, hi)
    interactions = extract.interaction_aggregates(session, snapshot, lo, hi)
    complaints = extract.complaint_aggregates(session, snapshot, lo, hi)
    return customers, features_of(customers, tx, accounts, interactions, complaints, selection)


def features_of(customers: pd.DataFrame, tx, accounts, interactions, complaints,
                selection: Selection) -> pd.DataFrame:
    """The selection's feature frame from the query results (per chunk, or staged)."""
    extra = customers.set_index("id")[[F.standard_column(n) for n in selection.standard]]
    extra = extra.apply(lambda col: col.astype(float) if col.dtype == bool else col)
    if selection.custom:
        extra = extra.join(F.custom_field_columns(customers.set_index("id")["custom_fields"],
                                                  selection.custom))
    frame = F.build_features(customers, tx, accounts, interactions, extra=extra,
                             complaints=complaints)
    return frame[selection.names]


def target_values(customers: pd.DataFrame, definition: labels.LabelDefinition):
    """``(y, keys)`` indexed by customer id: 1 left, 0 stayed, NaN missing (left out of
    training), and the target's recorded value per customer (None when missing)."""
    index = customers["id"].to_numpy()
    if definition.field_key is None:
        raw = customers["customer_status"]
    else:
        raw = customers["custom_fields"].map(
            lambda d, key=definition.field_key: d.get(key) if isinstance(d, dict) else None)
    raw = pd.Series(raw.tolist(), index=index, dtype=object)
    return definition.labels(raw)


def resolve_target(session, target: str | None, positive: str | None = None):
    """``(label definition, spec or None)``: ``None``/``closed`` means closed customers left;
    otherwise a customer field and the value of it that means "left" (``positive``; a value or,
    for a choice field, its label)."""
    if target in (None, "", "closed", labels.STATUS_TARGET):
        spec = None
        code = labels.STATUS_TARGET
    else:
        key = target[3:] if target.startswith("cf.") else target
        spec = find_spec(_catalog(session), key)
        if spec is None:
            raise FeatureError(_l("target %(target)s: no such active customer field",
                                  target=target))
        if spec.sensitive:
            raise FeatureError(_l("target %(target)s: is a sensitive field; models do not read "
                                  "it", target=target))
        code = f"custom_fields.{spec.key}"
    try:
        return labels.define(code, spec, positive), spec
    except labels.LabelError as exc:
        raise FeatureError(exc.message) from exc


def feature_kinds(features, categorical, selection: Selection) -> list[dict]:
    """What a trained model used: ``{"name", "kind", "source"}`` per feature, where kind is
    categorical or numeric and source says where the value comes from (built-in, a standard
    customer column, or a custom field and its type)."""
    types = {F.field_column(s.key): s.type for s in selection.custom}
    rows = []
    for name in features:
        if name in types:
            source = f"custom field, {types[name]}"
        elif name.startswith("customer."):
            source = "standard column"
        else:
            source = "built-in"
        rows.append({"name": name, "kind": "categorical" if name in categorical else "numeric",
                     "source": source})
    return rows


def selection_from_config(session, config: dict) -> Selection:
    """The selection a stored model was trained with (archived fields still read)."""
    from backoffice.fields.registry import field_catalog

    specs = {s.key: s for s in field_catalog("customer", include_archived=True, session=session)}
    keys = (config or {}).get("custom", [])
    return Selection(custom=tuple(specs[k] for k in keys if k in specs),
                     standard=tuple((config or {}).get("standard", [])))
