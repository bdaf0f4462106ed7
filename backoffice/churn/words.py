"""Reasons and signals in plain words, in the reader's language.

Scores store feature names and numbers only; the words are made when a page is shown, so a
reason reads in Chinese or English and a renamed custom field shows its current label.
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

FEATURE_LABELS = {
    "tx_count_30d": _l("Transactions in the last 30 days"),
    "tx_count_90d": _l("Transactions in the last 90 days"),
    "tx_count_change_30d": _l("Change in transactions, last 30 days against the 30 before"),
    "tx_count_change_90d": _l("Change in transactions, last 90 days against the 90 before"),
    "tx_amount_90d": _l("Amount moved in the last 90 days"),
    "tx_amount_change_90d": _l("Change in amount moved, last 90 days against the 90 before"),
    "net_outflow_ratio_30d": _l("Net outflow over 30 days, share of balances"),
    "net_outflow_ratio_60d": _l("Net outflow over 60 days, share of balances"),
    "net_outflow_ratio_90d": _l("Net outflow over 90 days, share of balances"),
    "balance_trend_90d": _l("Balance trend over 90 days"),
    "assets": _l("Total financial assets"),
    "volume_365d": _l("Transaction volume in the last 12 months"),
    "products_held": _l("Products held"),
    "products_opened_180d": _l("Products opened in the last 180 days"),
    "products_closed_180d": _l("Products closed in the last 180 days"),
    "days_since_last_tx": _l("Days since the last transaction"),
    "days_since_last_interaction": _l("Days since the last contact"),
    "inquiries_90d": _l("Product inquiries in the last 90 days"),
    "inquiries_stopped": _l("Product inquiries stopped"),
    "complaints_30d": _l("Complaints in the last 30 days"),
    "complaints_90d": _l("Complaints in the last 90 days"),
    "complaint_cases_30d": _l("Complaint cases opened in the last 30 days"),
    "complaint_cases_90d": _l("Complaint cases opened in the last 90 days"),
    "open_complaints": _l("Complaints still open"),
    "last_complaint_hours_to_resolve": _l("Hours to resolve the last complaint"),
    "last_recheck_satisfaction": _l("Satisfaction at the last complaint re-check (1-5)"),
    "satisfaction_recent": _l("Recent satisfaction (1-5)"),
    "satisfaction_change": _l("Change in satisfaction"),
    "unanswered_contacts": _l("Contacts without a response"),
    "tenure_years": _l("Years as a customer"),
    "age_years": _l("Age"),
    "tier": _l("Tier"),
    "customer_type": _l("Customer type"),
    "gender": _l("Gender"),
    "risk_tolerance": _l("Risk tolerance"),
}
SIGNAL_LABELS = {
    "frequency_drop": _l("Transaction frequency dropped"),
    "net_outflow": _l("Net outflow of balances"),
    "no_response": _l("No response to recent contacts"),
    "complaint": _l("Recent complaint"),
    "satisfaction_drop": _l("Satisfaction fell"),
}
PERCENT = ("tx_count_change_30d", "tx_count_change_90d", "tx_amount_change_90d",
           "net_outflow_ratio_30d", "net_outflow_ratio_60d", "net_outflow_ratio_90d",
           "balance_trend_90d")
MONEY = ("assets", "volume_365d", "tx_amount_90d")
TIER_LABELS = {"P1": _l("P1 high value, high risk"), "P2": _l("P2"), "P3": _l("P3"),
               "P4": _l("P4 watch")}
BAND_LABELS = {"high": _l("High"), "medium": _l("Medium"), "low": _l("Low")}


def feature_label(name: str, catalog: dict | None = None) -> str:
    if name in FEATURE_LABELS:
        return str(FEATURE_LABELS[name])
    if name.startswith("cf.") and catalog and name[3:] in catalog:
        return catalog[name[3:]].label()
    return name.split(".", 1)[-1]


def format_value(name: str, value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if name in PERCENT:
        return f"{value * 100:+.0f}%"
    if name in MONEY:
        return f"{value:,.0f}"
    if name == "inquiries_stopped":
        return _("yes") if value else _("no")
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.1f}"


def reason_text(reason: dict, catalog: dict | None = None) -> str:
    """``Change in transactions, ...: -52%``."""
    name = reason.get("feature", "")
    return f"{feature_label(name, catalog)}: {format_value(name, reason.get('value'))}"


def signal_text(signal: dict) -> str:
    code = signal.get("code", "")
    label = str(SIGNAL_LABELS.get(code, code))
    value = signal.get("value")
    if code == "frequency_drop":
        shown = format_value("tx_count_change_90d", value)
    elif code == "net_outflow":
        shown = format_value("net_outflow_ratio_60d", value)
    else:
        shown = format_value(code, value)
    return f"{label} ({shown})"
