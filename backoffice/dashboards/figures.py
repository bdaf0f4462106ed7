"""Reading dashboard figures for the current user's record scope, from ``dashboard_summary``.

The scope decides which summary rows add up (see ``models.summaries``): all owner rows for the
whole bank, the owner rows of one branch for a branch manager, and the rows under one staff id
(as owner or as serving teller) for an "own" book. A scope of ``none`` gets no customer figures.

Amounts follow the deep-profile rule as an aggregate: the whole bank sees every tier's assets; a
branch manager sees them except for the top tiers; an "own" book sees the assets of customers it
owns (a serving teller's share carries no amounts).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from backoffice.security import scopes
from models.choices import TOP_TIERS
from models.summaries import DashboardSummary

S = DashboardSummary.__table__


@dataclass
class Figures:
    """Counts and (visible) amounts per dimension value of one metric, and when computed."""

    counts: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, Decimal | None] = field(default_factory=dict)
    refreshed_at: dt.datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.counts


def _scope_condition(scope: scopes.RecordScope):
    if scope.kind == "all":
        return S.c.staff_role == "owner"
    if scope.kind == "branch" and scope.branch_id is not None:
        return (S.c.staff_role == "owner") & (S.c.branch_id == scope.branch_id)
    if scope.kind == "own" and scope.user_id is not None:
        return S.c.staff_id == scope.user_id
    return None


def figures(session, metric: str, scope: scopes.RecordScope | None = None,
            tier_amounts: bool = False) -> Figures:
    """The metric's figures in ``scope`` (default: the current one); ``tier_amounts`` applies
    the deep-profile rule to the amounts of a by-tier metric."""
    scope = scope or scopes.current() or scopes.NOTHING
    condition = _scope_condition(scope)
    if condition is None:
        return Figures()
    amount = S.c.amount
    if scope.kind == "own":
        amount = func.sum(_when(S.c.staff_role == "owner", S.c.amount))
    else:
        amount = func.sum(S.c.amount)
    rows = session.execute(
        select(S.c.dim, func.sum(S.c.count), amount, func.max(S.c.refreshed_at))
        .where(S.c.metric == metric, condition).group_by(S.c.dim).order_by(S.c.dim)).all()
    result = Figures()
    for dim, count, total, refreshed in rows:
        result.counts[dim] = int(count or 0)
        hidden = tier_amounts and scope.kind == "branch" and dim in TOP_TIERS
        result.amounts[dim] = None if hidden or total is None else Decimal(total)
        if refreshed and (result.refreshed_at is None or refreshed > result.refreshed_at):
            result.refreshed_at = refreshed
    return result


def _when(condition, value):
    from sqlalchemy import case

    return case((condition, value), else_=None)
