"""The data wall's fixtures: fresh summary figures, and marker figures planted in them.

Expected figures are recomputed here from the ``dashboard_summary`` rows with the ORM and plain
Python (owner rows of the branch, or of the whole bank), independently of the wall's code.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import delete

from backoffice.dashboards import summaries
from models.base import utcnow
from models.choices import TOP_TIERS
from models.summaries import DashboardSummary

S = DashboardSummary.__table__
# Marker figures: values no real bank of the tests reaches, so where they show is certain.
P1_MARKER = 7_777_777  # churn warnings P1 planted in branch B2
TOP_ASSETS_MARKER = Decimal("5555555.55")  # private-banking assets planted in branch B1
MARKER_DIM = "P1"


def refresh(app):
    from backoffice.extensions import db

    with app.app_context():
        summaries.refresh_all(db.session, now=utcnow())
        db.session.commit()
        db.session.remove()


@pytest.fixture
def refreshed(app, world):
    refresh(app)


@pytest.fixture
def planted(app, world, refreshed):
    """Fresh figures plus two markers: 7,777,777 P1 warnings in B2 (owned by rm3) and
    5,555,555.55 of private-banking assets in B1 (owned by rm1), removed afterwards."""
    from backoffice.extensions import db

    rows = [
        DashboardSummary(metric="churn_warnings", dim=MARKER_DIM, branch_id=world.branches["B2"],
                         staff_id=world.staff["rm3"], staff_role="owner", count=P1_MARKER,
                         refreshed_at=utcnow()),
        DashboardSummary(metric="customers_by_tier", dim="private_banking",
                         branch_id=world.branches["B1"], staff_id=world.staff["rm1"],
                         staff_role="owner", count=1, amount=TOP_ASSETS_MARKER,
                         refreshed_at=utcnow()),
    ]
    with app.app_context():
        db.session.add_all(rows)
        db.session.commit()
        ids = [row.id for row in rows]
        db.session.remove()
    yield
    with app.app_context():
        db.session.execute(delete(S).where(S.c.id.in_(ids)))
        db.session.commit()
        db.session.remove()


def summed(session, branch_id=None) -> dict:
    """``{(metric, dim): [count, amount or None, amount of deep-visible rows]}`` of the owner
    rows of one branch (None: the bank)."""
    out = defaultdict(lambda: [0, None])
    query = session.query(DashboardSummary).filter(DashboardSummary.staff_role == "owner")
    if branch_id is not None:
        query = query.filter(DashboardSummary.branch_id == branch_id)
    for row in query:
        entry = out[(row.metric, row.dim)]
        entry[0] += row.count
        if row.amount is not None:
            entry[1] = (entry[1] or Decimal(0)) + row.amount
    return out


def expected_tiles(session, branch_id=None, *, top_assets: bool = True) -> dict:
    """What the wall must show, from the summary rows alone. ``top_assets``: whether the
    viewer may see the assets of top-tier customers (the deep-profile rule)."""
    rows = summed(session, branch_id)

    def of(metric):
        return {dim: value for (name, dim), value in rows.items() if name == metric}

    tiers = of("customers_by_tier")
    amounts = {dim: (value[1] if top_assets or dim not in TOP_TIERS else None)
               for dim, value in tiers.items()}
    visible = [a for a in amounts.values() if a is not None]
    tasks = of("open_tasks")
    churn = of("churn_warnings")
    campaigns = of("campaign_results")
    complaints = of("complaints")
    flow = of("transaction_flow")
    months = sorted({dim.split(":")[0] for dim in flow})
    new, lost = of("new_customers"), of("lost_customers")
    moved = sorted(set(new) | set(lost))
    stages = {g: {s: campaigns.get(f"{g}:{s}", [0])[0]
                  for s in ("targeted", "contacted", "responded", "converted")}
              for g in ("target", "control")}
    opened = sorted(d.split(":", 1)[1] for d in complaints if d.startswith("opened:"))
    return {
        "tiers": {"counts": {d: v[0] for d, v in tiers.items()}, "amounts": amounts,
                  "total": sum(v[0] for v in tiers.values()),
                  "assets": sum(visible, Decimal(0)) if visible else None},
        "tasks": {"overdue": tasks.get("overdue", [0])[0], "open": tasks.get("open", [0])[0]},
        "churn": {"counts": {t: churn.get(t, [0])[0] for t in ("P1", "P2", "P3", "P4")}},
        "campaigns": {"stages": stages},
        "complaints": {"still_open": complaints.get("open", [0])[0], "months": opened,
                       "opened": [complaints[f"opened:{m}"][0] for m in opened]},
        "flow": {"months": months,
                 "in": [(flow.get(f"{m}:in", [0, None])[1] or Decimal(0)) for m in months],
                 "out": [(flow.get(f"{m}:out", [0, None])[1] or Decimal(0)) for m in months]},
        "movement": {"months": moved, "new": [new.get(m, [0])[0] for m in moved],
                     "lost": [lost.get(m, [0])[0] for m in moved]},
        "channels": {"counts": {d: v[0] for d, v in of("interactions_by_channel").items()}},
    }
