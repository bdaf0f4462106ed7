"""Churn features from plain data frames (pure: no app, no database).

``backoffice.churn.extract`` runs a few grouped queries per chunk of customers and hands their
results here as data frames; this module turns them into one row per customer. Keeping the
arithmetic here means it is tested with hand-made frames, and the SQL stays a handful of sums.

Windows are counted in days back from each customer's *reference day*: today when scoring, and
for training on closed customers a day before they left (so the model learns what a leaver looked
like while still a customer, not the empty accounts after closing).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# Behaviour and profile features every model gets, numeric unless listed as categorical.
BUILTIN_NUMERIC = (
    "tx_count_30d", "tx_count_90d", "tx_count_change_30d", "tx_count_change_90d",
    "tx_amount_90d", "tx_amount_change_90d", "net_outflow_ratio_30d", "net_outflow_ratio_60d",
    "net_outflow_ratio_90d", "balance_trend_90d", "assets", "volume_365d", "products_held",
    "products_opened_180d", "products_closed_180d", "days_since_last_tx",
    "days_since_last_interaction", "inquiries_90d", "inquiries_stopped", "complaints_30d",
    "complaints_90d", "complaint_cases_30d", "complaint_cases_90d", "open_complaints",
    "last_complaint_hours_to_resolve", "last_recheck_satisfaction", "satisfaction_recent", "satisfaction_change", "unanswered_contacts",
    "tenure_years", "age_years",
)
BUILTIN_CATEGORICAL = ("tier", "customer_type", "gender", "risk_tolerance")
BUILTIN = BUILTIN_NUMERIC + BUILTIN_CATEGORICAL
# A customer with no activity at all has "infinitely" long since the last one; a large finite
# number keeps the models and the medians well-behaved.
NEVER_DAYS = 3650.0

TX_COLUMNS = ("tx_count_30d", "tx_count_prior_30d", "tx_count_90d", "tx_count_prior_90d",
              "tx_amount_90d", "tx_amount_prior_90d", "net_in_30d", "net_in_60d", "net_in_90d",
              "net_in_after_ref", "volume_365d", "last_tx_age")
ACCOUNT_COLUMNS = ("assets_now", "products_held", "products_opened_180d", "products_closed_180d")
INTERACTION_COLUMNS = ("last_interaction_age", "complaints_30d", "complaints_90d",
                       "inquiries_90d", "inquiries_prior_90d", "satisfaction_recent",
                       "satisfaction_prior", "unanswered_contacts")
# From the complaint workflow (``complaint`` rows), beside the interaction complaint flag.
COMPLAINT_COLUMNS = ("complaint_cases_30d", "complaint_cases_90d", "open_complaints",
                     "last_complaint_hours_to_resolve", "last_recheck_satisfaction")


def change_ratio(recent, prior):
    """(recent - prior) / prior; 0 when both are zero, +1 when activity starts from nothing."""
    recent = np.asarray(recent, dtype=float)
    prior = np.asarray(prior, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(prior > 0, (recent - prior) / np.where(prior > 0, prior, 1.0),
                         np.where(recent > 0, 1.0, 0.0))
    return ratio


def _aligned(frame: pd.DataFrame | None, index, columns) -> pd.DataFrame:
    """``frame`` reindexed on the customers, with every expected column (missing: zero)."""
    if frame is None or frame.empty:
        return pd.DataFrame(0.0, index=index, columns=list(columns))
    out = frame.set_index("customer_id").reindex(index)
    for column in columns:
        if column not in out:
            out[column] = np.nan
    return out[list(columns)].astype(float)


def build_features(customers: pd.DataFrame, tx: pd.DataFrame | None = None,
                   accounts: pd.DataFrame | None = None,
                   interactions: pd.DataFrame | None = None,
                   extra: pd.DataFrame | None = None,
                   complaints: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer (index: customer id) with :data:`BUILTIN` plus ``extra`` columns.

    ``customers`` has ``id``, ``ref_day`` (epoch days), ``birth_day``, ``onboarded_day`` (epoch
    days or NaN) and the categorical profile columns; the other frames have ``customer_id`` and
    the aggregate columns named in ``TX_COLUMNS`` etc. (ages in days before the reference day).
    ``extra`` holds standard or custom fields an admin chose, already indexed by customer id.
    ``complaints`` has the :data:`COMPLAINT_COLUMNS` of the complaint workflow (none: zeros; a
    customer never re-checked or never resolved gets 0 hours and a neutral 0 satisfaction, so
    the columns stay constant where there are no complaints and training drops them).
    """
    index = pd.Index(customers["id"].to_numpy(), name="customer_id")
    c = customers.set_index("id")
    t = _aligned(tx, index, TX_COLUMNS)
    a = _aligned(accounts, index, ACCOUNT_COLUMNS)
    i = _aligned(interactions, index, INTERACTION_COLUMNS)
    k = _aligned(complaints, index, COMPLAINT_COLUMNS).fillna(0.0)
    counts = t.drop(columns=["last_tx_age"]).fillna(0.0)
    a_counts = a.fillna(0.0)
    out = pd.DataFrame(index=index)
    out["tx_count_30d"] = counts["tx_count_30d"]
    out["tx_count_90d"] = counts["tx_count_90d"]
    out["tx_count_change_30d"] = change_ratio(counts["tx_count_30d"], counts["tx_count_prior_30d"])
    out["tx_count_change_90d"] = change_ratio(counts["tx_count_90d"], counts["tx_count_prior_90d"])
    out["tx_amount_90d"] = counts["tx_amount_90d"]
    out["tx_amount_change_90d"] = change_ratio(counts["tx_amount_90d"],
                                               counts["tx_amount_prior_90d"])
    # Assets at the reference day: today's assets minus what came in (net) since then.
    assets = np.maximum(a_counts["assets_now"] - counts["net_in_after_ref"], 0.0)
    out["assets"] = assets
    for days in (30, 60, 90):
        outflow = -counts[f"net_in_{days}d"]
        start_balance = assets + outflow  # what the customer held when the window began
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(start_balance > 0, outflow / np.where(start_balance > 0,
                                                                  start_balance, 1.0), 0.0)
        out[f"net_outflow_ratio_{days}d"] = np.clip(ratio, -10.0, 1.0)
    out["balance_trend_90d"] = -out["net_outflow_ratio_90d"]
    out["volume_365d"] = counts["volume_365d"]
    out["products_held"] = a_counts["products_held"]
    out["products_opened_180d"] = a_counts["products_opened_180d"]
    out["products_closed_180d"] = a_counts["products_closed_180d"]
    out["days_since_last_tx"] = t["last_tx_age"].fillna(NEVER_DAYS).clip(lower=0.0)
    out["days_since_last_interaction"] = i["last_interaction_age"].fillna(NEVER_DAYS).clip(
        lower=0.0)
    i_counts = i.fillna({k: 0.0 for k in ("complaints_30d", "complaints_90d", "inquiries_90d",
                                          "inquiries_prior_90d", "unanswered_contacts")})
    out["inquiries_90d"] = i_counts["inquiries_90d"]
    out["inquiries_stopped"] = ((i_counts["inquiries_prior_90d"] > 0)
                                & (i_counts["inquiries_90d"] == 0)).astype(float)
    out["complaints_30d"] = i_counts["complaints_30d"]
    out["complaints_90d"] = i_counts["complaints_90d"]
    for column in COMPLAINT_COLUMNS:
        out[column] = k[column]
    out["satisfaction_recent"] = i["satisfaction_recent"]
    out["satisfaction_change"] = i["satisfaction_recent"] - i["satisfaction_prior"]
    out["unanswered_contacts"] = i_counts["unanswered_contacts"]
    ref = c["ref_day"].astype(float).reindex(index)
    out["tenure_years"] = ((ref - c["onboarded_day"].astype(float).reindex(index)) / 365.25)
    out["age_years"] = ((ref - c["birth_day"].astype(float).reindex(index)) / 365.25)
    for column in BUILTIN_CATEGORICAL:
        values = c[column].reindex(index) if column in c else pd.Series(np.nan, index=index)
        out[column] = values.astype(object).where(values.notna(), np.nan)
    out = out[list(BUILTIN)]
    if extra is not None and not extra.empty:
        out = out.join(extra.reindex(index))
    return out


def custom_field_columns(raw: pd.Series, specs) -> pd.DataFrame:
    """Custom-field values (``raw``: the JSON dicts, indexed by customer id) as typed columns.

    Numbers and booleans become floats, dates days before the reference are not needed here so
    they become epoch days, choices and text stay strings (categories); missing stays NaN.
    """
    frame = pd.DataFrame(index=raw.index)
    dicts = raw.map(lambda value: value if isinstance(value, dict) else {})
    for spec in specs:
        values = dicts.map(lambda d, key=spec.key: d.get(key))
        frame[field_column(spec.key)] = typed_values(values, spec.type)
    return frame


def typed_values(values: pd.Series, field_type: str) -> pd.Series:
    """One custom field's stored values in the form a model takes."""
    if field_type in ("integer", "decimal", "money"):
        return pd.to_numeric(values, errors="coerce").astype(float)
    if field_type == "boolean":
        mapped = values.map(_boolean)
        return mapped.astype(float)
    if field_type in ("date", "datetime"):
        stamps = pd.to_datetime(values, errors="coerce")
        return (stamps - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
    if field_type == "multi_choice":
        return values.map(lambda v: "|".join(sorted(map(str, v))) if isinstance(v, list)
                          else np.nan).astype(object)
    return values.map(lambda v: np.nan if _missing(v) else str(v)).astype(object)


def _missing(value) -> bool:
    if value is None or (isinstance(value, str) and value == ""):
        return True
    return isinstance(value, float) and np.isnan(value)


def _boolean(value):
    """1.0, 0.0, or NaN for a missing or unreadable value. A missing value can arrive as a float
    NaN (pandas fills the gaps of a mapped column so), and ``bool(nan)`` is True: it is checked
    first, or every blank would read as "yes"."""
    if _missing(value):
        return np.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(bool(value))
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "y", "是"):
        return 1.0
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "n", "否"):
        return 0.0
    return np.nan


def field_column(key: str) -> str:
    """The feature name of a custom field."""
    return f"cf.{key}"


def standard_column(name: str) -> str:
    """The feature name of a standard customer column an admin marked."""
    return f"customer.{name}"
