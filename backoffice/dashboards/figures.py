"""Reading dashboard figures for the current user's record scope, from ``dashboard_summary``.

The scope decides which summary rows add up (see ``models.summaries``): all owner rows for the
whole bank, the owner rows of one branch for a branch manager, and the rows under one staff id
(as owner or as serving teller) for an "own" book. A scope of ``none`` gets no customer figures.

Amounts of a by-tier metric follow the deep-profile rule of the field-access policy
(``policy.deep_profile_condition_on``, decided by the permissions roles hold): an amount adds
up only the summary rows whose customers' deep profile the viewer may see (their tier, or their
owner being the viewer), and is withheld when there is none. A serving teller's share carries no
amounts (the owner's rows already count them).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, func, select

from backoffice.security import policy, scopes
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
            tier_amounts: bool = False, viewer: policy.Viewer | None = None) -> Figures:
    """The metric's figures in ``scope`` (default: the current one); ``tier_amounts`` applies
    the deep-profile rule of ``viewer`` (default: the current one) to the amounts of a by-tier
    metric."""
    scope = scope or scopes.current() or scopes.NOTHING
    condition = _scope_condition(scope)
    if condition is None:
        return Figures()
    counted = S.c.staff_role == "owner"
    if tier_amounts:
        allowed = policy.deep_profile_condition_on(S.c.dim, S.c.staff_id, viewer)
        if allowed is not None:
            counted = and_(counted, allowed)
    amount = func.sum(_when(counted, S.c.amount))
    rows = session.execute(
        select(S.c.dim, func.sum(S.c.count), amount, func.max(S.c.refreshed_at))
        .where(S.c.metric == metric, condition).group_by(S.c.dim).order_by(S.c.dim)).all()
    result = Figures()
    for dim, count, total, refreshed in rows:
        result.counts[dim] = int(count or 0)
        result.amounts[dim] = None if total is None else Decimal(total)
        if refreshed and (result.refreshed_at is None or refreshed > result.refreshed_at):
            result.refreshed_at = refreshed
    return result


def _when(condition, value):
    from sqlalchemy import case

    return case((condition, value), else_=None)
