"""Two more figures for the summary refresh: churn warnings and campaign results.

The wall reads only ``dashboard_summary`` (a page view must not count churn scores or campaign
targets, let alone transactions, on a TV that asks every minute), so what it shows of churn and
campaigns is added to the refresh as metrics, like every other figure: one set-based fact query
each, cut by the customer's branch, owner and serving teller, which is what lets the record
scopes add them up (``backoffice.dashboards.figures``).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import literal, select, union_all

from backoffice.dashboards import summaries
from models import Customer
from models.campaigns import Campaign, CampaignTarget
from models.churn import ChurnScore

CHURN = "churn_warnings"
CAMPAIGNS = "campaign_results"
# A campaign's stages, each counted once per target row that reached it.
STAGES = ("targeted", "contacted", "responded", "converted")
GROUPS = ("target", "control")


def _book():
    c = Customer.__table__
    return c.c.branch_id, c.c.owner_id, c.c.teller_id


def churn_facts(session, now):
    """Live customers with a churn score, by warning tier (P1 … P4)."""
    c, s = Customer.__table__, ChurnScore.__table__
    return (select(*_book(), s.c.warning_tier.label("dim"), summaries.no_amount())
            .select_from(s.join(c, c.c.id == s.c.customer_id))
            .where(c.c.status != "closed"))


def campaign_facts(session, now):
    """Targets of the campaigns launched in the last twelve months: one fact per stage each
    reached (``target:contacted``, ``control:converted`` …), the converted amount on
    ``…:converted``. Counted in the customer's book of today, like every other figure."""
    c, t, k = Customer.__table__, CampaignTarget.__table__, Campaign.__table__
    since = dt.datetime.combine(summaries.months_back(now), dt.time())
    joined = t.join(c, c.c.id == t.c.customer_id).join(k, k.c.id == t.c.campaign_id)
    reached = {"targeted": None, "contacted": t.c.contacted_at, "responded": t.c.responded_at,
               "converted": t.c.converted_at}
    parts = []
    for stage, column in reached.items():
        amount = t.c.converted_amount.label("amount") if stage == "converted" \
            else summaries.no_amount()
        query = (select(*_book(), (t.c.target_group + literal(f":{stage}")).label("dim"), amount)
                 .select_from(joined).where(k.c.launched_at >= since))
        if column is not None:
            query = query.where(column.is_not(None))
        parts.append(query)
    return union_all(*parts)


def install() -> None:
    summaries.register_metric(CHURN, churn_facts)
    summaries.register_metric(CAMPAIGNS, campaign_facts)
