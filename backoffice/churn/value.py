"""The value band's inputs: a customer's financial assets and annual volume, as everywhere else.

The band (``rules.value_bands``) reads the staged features' ``assets`` (open asset accounts) and
``volume_365d`` (12 months of transactions), and adds the customer's number fields an admin
marked as counting toward assets or volume: the shared definition of
``backoffice.fields.value_roles``, which tiers and the rule builder use too. Without it, a bank
that imported balances as fields would see every customer "low value" and every high-risk one in
P3. One query per scoring chunk, over the customer rows of the chunk's id range, and none at all
when no field is marked.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select

from backoffice.churn import rules
from backoffice.fields import value_roles
from models import Customer


def marked_amounts(session, ids) -> pd.DataFrame:
    """``assets`` and ``volume`` from the marked fields of the customers ``ids`` (index: id;
    zeros when nothing is marked)."""
    index = pd.Index(np.asarray(ids), name="customer_id")
    out = pd.DataFrame(0.0, index=index, columns=["assets", "volume"])
    specs = {role: value_roles.marked(role, session=session) for role in ("assets", "volume")}
    if not len(index) or not any(specs.values()):
        return out
    dialect = session.get_bind().dialect.name
    statement = select(
        Customer.id, value_roles.marked_sql("assets", dialect, specs=specs["assets"]),
        value_roles.marked_sql("volume", dialect, specs=specs["volume"]),
    ).where(Customer.id.between(int(index.min()), int(index.max())))
    rows = session.execute(statement, execution_options={"crm_unscoped": True}).all()
    if rows:
        found = pd.DataFrame(rows, columns=["id", "assets", "volume"]).set_index("id")
        out = found.astype(float).reindex(index).fillna(0.0)
    return out


def value_bands(session, features: pd.DataFrame, thresholds: dict | None = None) -> pd.Series:
    """The value band of every customer of a scoring chunk (index: customer id)."""
    return rules.value_bands(features, thresholds,
                             marked=marked_amounts(session, features.index.to_numpy()))
