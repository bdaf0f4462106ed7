"""Feature engineering from plain frames (backoffice.churn.features): no app, no database."""
import numpy as np
import pandas as pd

from backoffice.churn import features as F


def customers(n=2, ref=20000.0):
    return pd.DataFrame({"id": list(range(1, n + 1)), "ref_day": [ref] * n,
                         "birth_day": [ref - 365.25 * 40] * n,
                         "onboarded_day": [ref - 365.25 * 5] * n,
                         "tier": ["wealth", None][:n], "customer_type": ["individual"] * n,
                         "gender": ["F"] * n, "risk_tolerance": ["C3"] * n})


def test_frequency_drop_and_outflow_are_relative_to_the_prior_period():
    """Halved transactions read -50%; 60k out of a 100k start balance reads 60% outflow."""
    tx = pd.DataFrame({"customer_id": [1], "tx_count_30d": [2], "tx_count_prior_30d": [4],
                       "tx_count_90d": [10], "tx_count_prior_90d": [20], "tx_amount_90d": [500.0],
                       "tx_amount_prior_90d": [1000.0], "net_in_30d": [0.0],
                       "net_in_60d": [-60000.0], "net_in_90d": [-60000.0],
                       "net_in_after_ref": [0.0], "volume_365d": [9000.0], "last_tx_age": [3.0]})
    accounts = pd.DataFrame({"customer_id": [1], "assets_now": [40000.0], "products_held": [2],
                             "products_opened_180d": [0], "products_closed_180d": [1]})
    out = F.build_features(customers(), tx, accounts, None)
    row = out.loc[1]
    assert row["tx_count_change_90d"] == -0.5
    assert row["tx_count_change_30d"] == -0.5
    assert row["tx_amount_change_90d"] == -0.5
    assert abs(row["net_outflow_ratio_60d"] - 0.6) < 1e-9
    assert row["assets"] == 40000.0
    assert row["days_since_last_tx"] == 3.0
    assert abs(row["age_years"] - 40) < 0.01 and abs(row["tenure_years"] - 5) < 0.01
    # The customer without any row: zero counts, "never" recency, no division errors.
    other = out.loc[2]
    assert other["tx_count_90d"] == 0 and other["tx_count_change_90d"] == 0
    assert other["days_since_last_tx"] == F.NEVER_DAYS
    assert other["net_outflow_ratio_60d"] == 0
    assert list(out.columns[:len(F.BUILTIN)]) == list(F.BUILTIN)


def test_assets_are_rolled_back_to_the_reference_day():
    """A leaver seen before leaving: money that left after the reference day is added back."""
    tx = pd.DataFrame({"customer_id": [1], "net_in_after_ref": [-80000.0]})
    accounts = pd.DataFrame({"customer_id": [1], "assets_now": [0.0]})
    out = F.build_features(customers(1), tx, accounts, None)
    assert out.loc[1, "assets"] == 80000.0


def test_inquiries_that_stopped_and_satisfaction_trend():
    inter = pd.DataFrame({"customer_id": [1, 2], "inquiries_90d": [0, 2],
                          "inquiries_prior_90d": [3, 1], "satisfaction_recent": [2.0, np.nan],
                          "satisfaction_prior": [4.5, 4.0], "complaints_30d": [1, 0],
                          "last_interaction_age": [10.0, 400.0], "unanswered_contacts": [3, 0]})
    out = F.build_features(customers(), None, None, inter)
    assert list(out["inquiries_stopped"]) == [1.0, 0.0]
    assert out.loc[1, "satisfaction_change"] == -2.5
    assert np.isnan(out.loc[2, "satisfaction_change"])
    assert list(out["unanswered_contacts"]) == [3, 0]


def test_custom_field_values_are_typed_by_the_field_type():
    """Stored JSON values become numbers, 0/1 and categories; junk becomes missing."""
    from backoffice.fields.registry import FieldSpec

    specs = [FieldSpec(None, "customer", "balance", "money", "余额", "Balance"),
             FieldSpec(None, "customer", "active", "boolean", "活跃", "Active"),
             FieldSpec(None, "customer", "geo", "choice", "地区", "Geography")]
    raw = pd.Series([{"balance": "1234.50", "active": True, "geo": "France"},
                     {"balance": "n/a", "active": "0"}, None], index=[7, 8, 9])
    out = F.custom_field_columns(raw, specs)
    assert out.loc[7, "cf.balance"] == 1234.5 and np.isnan(out.loc[8, "cf.balance"])
    assert list(out["cf.active"].fillna(-1)) == [1.0, 0.0, -1]
    assert out.loc[7, "cf.geo"] == "France" and pd.isna(out.loc[9, "cf.geo"])
