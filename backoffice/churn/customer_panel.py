"""The churn room's part of the customer 360 page: a badge in the header (warning tier and
probability) and the full panel (reasons, signals, retention task) on the profile tab.

Both only for roles that read churn warnings, and only for a scored customer.
"""
from __future__ import annotations

import functools

from sqlalchemy import bindparam, select

from backoffice.extensions import db
from models.churn import ChurnScore

READS_WARNINGS = ("can_read", "ChurnWarning")


def latest_score(customer):
    """The customer's latest score, read once per request (the badge and the profile tab's
    panel both show it)."""
    from backoffice.customers.panels import per_request

    return per_request(f"churn_score:{customer.id}", lambda: db.session.execute(
        _score_statement(), {"score_customer": customer.id}).scalar_one_or_none())


@functools.cache
def _score_statement():
    """Built once: every 360 page of a churn reader asks it, and building a statement and its
    cache key per page cost about as much as running it."""
    return select(ChurnScore).where(ChurnScore.customer_id == bindparam("score_customer"))


def badge(customer) -> dict | None:
    """The header badge: the latest score's tier and probability, one query."""
    from backoffice.churn import words

    score = latest_score(customer)
    if score is None:
        return None
    return {"score": score, "tier_labels": words.TIER_LABELS}


def panel(customer) -> dict | None:
    from backoffice.churn.views import customer_warning

    warning = customer_warning(customer)
    return None if warning is None else {"crm_churn": warning}


def register() -> None:
    from backoffice.customers.panels import HEADER, Panel, register_panel, requires

    visible = requires(*READS_WARNINGS)
    register_panel(Panel("churn_badge", HEADER, "churn/_customer_churn_badge.html", badge,
                         visible, order=10))
    register_panel(Panel("churn_warning", "profile", "churn/_customer_churn.html", panel,
                         visible, order=10))

