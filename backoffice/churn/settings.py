"""Churn settings read per run: rule thresholds from the database, bands from the config."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from backoffice.churn import rules as R
from models.churn import ChurnSignalRule


def signal_rules(session) -> dict[str, R.Rule]:
    """The defaults, overridden by what staff saved on the signal settings screen."""
    configured = dict(R.DEFAULT_RULES)
    for row in session.execute(select(ChurnSignalRule)).scalars():
        if row.code in configured:
            configured[row.code] = R.Rule(row.code, bool(row.enabled), float(row.threshold),
                                          int(row.window_days), row.min_value_band or None)
    return configured


def risk_thresholds() -> dict:
    return {**R.DEFAULT_RISK_BANDS, **(current_app.config.get("CRM_CHURN_RISK_BANDS") or {})}


def value_thresholds() -> dict:
    return {**R.DEFAULT_VALUE_BANDS, **(current_app.config.get("CRM_CHURN_VALUE_BANDS") or {})}
