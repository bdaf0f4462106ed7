"""Which walls a viewer may open, and a wall's figures, read from ``dashboard_summary`` only.

A wall is the bank or one branch. Who may open which is the record scope's answer, never a
role's name: the bank wall needs a scope that restricts no customer (bank-wide); a branch wall
needs a scope that holds every customer of that branch, asked of a customer of the branch whom
nobody owns or serves (a book of one's own customers never holds such a customer, so an "own"
scope opens no wall). A wall is then read under the narrower of the two: the viewer's scope cut
to the branch.

Each tile also needs the grant of the home-dashboard panel (or screen) it summarises, the rule
the dashboards follow (``backoffice.dashboards.registry``), and amounts by tier follow the
deep-profile rule of the viewer (``backoffice.dashboards.figures``): a branch manager sees the
count of the branch's private-banking customers but not their assets. Every figure is one
grouped query over ``dashboard_summary``; nothing here reads customers, accounts or
transactions.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from backoffice.dashboards.figures import Figures, figures
from backoffice.datawall.metrics import CAMPAIGNS, CHURN, GROUPS, STAGES
from backoffice.security import scopes
from backoffice.service.dashboard import METRIC as COMPLAINTS
from config.roles import DASHBOARD_PANELS, READ
from models.org import Branch

# tile -> the (permission, view) a role must hold to see it: the panel it mirrors on the home
# dashboard, or the screen it summarises.
TILES = {
    "tiers": DASHBOARD_PANELS["tiers"][0],
    "flow": DASHBOARD_PANELS["flow"][0],
    "movement": DASHBOARD_PANELS["movement"][0],
    "tasks": DASHBOARD_PANELS["tasks"][0],
    "churn": (READ, "ChurnWarning"),
    "complaints": DASHBOARD_PANELS["complaints"][0],
    "campaigns": (READ, "Campaign"),
    "channels": DASHBOARD_PANELS["channels"][0],
}
CHURN_TIERS = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class Wall:
    """The bank (``branch_id`` None) or one branch, and the scope its figures are read in."""

    scope: scopes.RecordScope
    branch_id: int | None = None
    branch_name: str | None = None

    @property
    def key(self) -> str:
        return "bank" if self.branch_id is None else f"branch-{self.branch_id}"


@dataclass(frozen=True)
class _UnownedCustomer:
    """A customer of a branch whom nobody owns or serves (see the module docstring)."""

    branch_id: int
    branch = owner = teller = None
    owner_id = teller_id = None


def covers_bank(scope: scopes.RecordScope) -> bool:
    return scope.customer_condition() is None


def covers_branch(scope: scopes.RecordScope, branch_id: int) -> bool:
    return scope.permits_customer(_UnownedCustomer(branch_id))


def bank_wall(scope: scopes.RecordScope) -> Wall | None:
    return Wall(scope) if covers_bank(scope) else None


def branch_wall(session, scope: scopes.RecordScope, branch_id: int) -> Wall | None:
    """The branch's wall, or None when the branch does not exist or is outside the scope."""
    if not covers_branch(scope, branch_id):
        return None
    name = session.scalar(select(Branch.name).where(Branch.id == branch_id))
    if name is None:
        return None
    narrowed = scopes.RecordScope("branch", user_id=scope.user_id, branch_id=branch_id)
    return Wall(narrowed, branch_id, name)


def walls_for(session, scope: scopes.RecordScope) -> list[tuple[str, int | None, str | None]]:
    """``(key, branch id, branch name)`` of every wall the scope opens, the bank first."""
    if covers_bank(scope):
        rows = session.execute(select(Branch.id, Branch.name).order_by(Branch.code)).all()
        return [("bank", None, None)] + [(f"branch-{pk}", pk, name) for pk, name in rows]
    wall = branch_wall(session, scope, scope.branch_id) if scope.branch_id is not None else None
    return [(wall.key, wall.branch_id, wall.branch_name)] if wall else []


def default_wall(session, scope: scopes.RecordScope) -> Wall | None:
    """The widest wall the scope opens: the bank's, else the viewer's own branch's."""
    wall = bank_wall(scope)
    if wall is None and scope.branch_id is not None:
        wall = branch_wall(session, scope, scope.branch_id)
    return wall


def visible_tiles(viewer) -> list[str]:
    return [key for key, (permission, view) in TILES.items() if viewer.has(permission, view)]


# --- the figures --------------------------------------------------------------------------------

def month_key(moment: dt.datetime | None) -> str | None:
    """The summaries' month of a refresh time ('YYYY-MM', UTC like the stored times)."""
    return moment.strftime("%Y-%m") if moment else None


def _months(result: Figures, prefix: str = "") -> list[str]:
    return sorted({dim[len(prefix):].split(":")[0] for dim in result.counts
                   if dim.startswith(prefix)})


def _tiers(session, wall, viewer) -> tuple[dict, Figures]:
    result = figures(session, "customers_by_tier", wall.scope, tier_amounts=True, viewer=viewer)
    visible = [amount for amount in result.amounts.values() if amount is not None]
    return {"counts": dict(result.counts), "amounts": dict(result.amounts),
            "total": sum(result.counts.values()),
            "assets": sum(visible, Decimal(0)) if visible else None,
            "assets_partial": len(visible) < len(result.amounts)}, result


def _movement(session, wall, viewer) -> tuple[dict, Figures]:
    new, lost = (figures(session, metric, wall.scope, viewer=viewer)
                 for metric in ("new_customers", "lost_customers"))
    months = sorted(set(new.counts) | set(lost.counts))
    merged = Figures(refreshed_at=max(filter(None, (new.refreshed_at, lost.refreshed_at)),
                                      default=None))
    return {"months": months, "new": [new.counts.get(m, 0) for m in months],
            "lost": [lost.counts.get(m, 0) for m in months]}, merged


def _flow(session, wall, viewer) -> tuple[dict, Figures]:
    result = figures(session, "transaction_flow", wall.scope, viewer=viewer)
    months = _months(result)

    def amount(month, direction):
        return result.amounts.get(f"{month}:{direction}") or Decimal(0)

    money_in = [amount(m, "in") for m in months]
    money_out = [amount(m, "out") for m in months]
    return {"months": months, "in": money_in, "out": money_out,
            "net": [i - o for i, o in zip(money_in, money_out)]}, result


def _tasks(session, wall, viewer) -> tuple[dict, Figures]:
    result = figures(session, "open_tasks", wall.scope, viewer=viewer)
    return {"overdue": result.counts.get("overdue", 0),
            "open": result.counts.get("open", 0)}, result


def _churn(session, wall, viewer) -> tuple[dict, Figures]:
    result = figures(session, CHURN, wall.scope, viewer=viewer)
    return {"counts": {tier: result.counts.get(tier, 0) for tier in CHURN_TIERS}}, result


def _complaints(session, wall, viewer) -> tuple[dict, Figures]:
    result = figures(session, COMPLAINTS, wall.scope, viewer=viewer)
    months = _months(result, "opened:")
    return {"months": months,
            "opened": [result.counts.get(f"opened:{m}", 0) for m in months],
            "still_open": result.counts.get("open", 0)}, result


def _campaigns(session, wall, viewer) -> tuple[dict, Figures]:
    result = figures(session, CAMPAIGNS, wall.scope, viewer=viewer)
    stages = {group: {stage: result.counts.get(f"{group}:{stage}", 0) for stage in STAGES}
              for group in GROUPS}
    rates = {group: (stages[group]["converted"] / stages[group]["targeted"]
                     if stages[group]["targeted"] else None) for group in GROUPS}
    return {"stages": stages, "rates": rates,
            "converted_amount": result.amounts.get("target:converted")}, result


def _channels(session, wall, viewer) -> tuple[dict, Figures]:
    result = figures(session, "interactions_by_channel", wall.scope, viewer=viewer)
    return {"counts": dict(result.counts)}, result


READERS = {"tiers": _tiers, "flow": _flow, "movement": _movement, "tasks": _tasks,
           "churn": _churn, "complaints": _complaints, "campaigns": _campaigns,
           "channels": _channels}


def wall_figures(session, wall: Wall, viewer, tiles=None) -> dict:
    """``{"tiles": {tile: figures}, "refreshed_at": …}`` for the tiles the viewer may see
    (``tiles``: a subset of them), each read in the wall's scope."""
    shown = [key for key in visible_tiles(viewer) if tiles is None or key in tiles]
    out, stamps = {}, []
    for key in shown:
        out[key], result = READERS[key](session, wall, viewer)
        stamps.append(result.refreshed_at)
    return {"tiles": out, "refreshed_at": max(filter(None, stamps), default=None)}
