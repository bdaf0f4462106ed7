"""Dashboard figures: the summary refresh counts what the tables hold, and each scope adds up
exactly its own customers (whole bank, one branch, an owner's book, a serving teller's book).

Expected figures are computed here in Python from the ORM rows, independently of the SQL the
refresh runs, over whatever customers the shared test database holds at that moment.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from backoffice.dashboards import summaries
from backoffice.dashboards.figures import figures
from backoffice.security import policy, scopes
from models import Account, Customer, FollowUp, Interaction, Staff
from models.base import utcnow


@pytest.fixture
def refreshed(app, world):
    from backoffice.extensions import db

    with app.app_context():
        now = utcnow()
        summaries.refresh_all(db.session, now=now)
        db.session.commit()
        yield db.session, now
        db.session.remove()


def _in_scope(customer, scope) -> bool:
    if scope.kind == "all":
        return True
    if scope.kind == "branch":
        return customer.branch_id == scope.branch_id
    return scope.user_id in (customer.owner_id, customer.teller_id)


def _expected_tiers(session, scope):
    counts, assets = Counter(), defaultdict(Decimal)
    for customer in session.query(Customer).execution_options(crm_unscoped=True):
        if customer.status == "closed" or not _in_scope(customer, scope):
            continue
        tier = customer.tier_override or customer.tier or ""
        counts[tier] += 1
        for account in session.query(Account).filter_by(customer_id=customer.id,
                                                         status="open"):
            if account.product.category != "loan":
                assets[tier] += account.balance
    return counts, assets


def _scopes(world):
    return {
        "senior": scopes.RecordScope("all", user_id=world.staff["senior"]),
        "bm1": scopes.RecordScope("branch", user_id=world.staff["bm1"],
                                  branch_id=world.branches["B1"]),
        "rm1": scopes.RecordScope("own", user_id=world.staff["rm1"],
                                  branch_id=world.branches["B1"]),
        "teller1": scopes.RecordScope("own", user_id=world.staff["teller1"],
                                      branch_id=world.branches["B1"]),
    }


@pytest.mark.parametrize("who", ["senior", "bm1", "rm1", "teller1"])
def test_customers_by_tier_match_the_rows_in_each_scope(refreshed, world, who):
    """Counts per tier equal the customers of the scope; assets are their open non-loan
    balances, withheld where the deep-profile rule withholds them."""
    session, _now = refreshed
    scope = _scopes(world)[who]
    counts, assets = _expected_tiers(session, scope)
    # Amounts follow the viewer's deep-profile permissions (the policy), not the scope kind.
    viewer = policy.viewer_for(session.get(Staff, world.staff[who]))
    result = figures(session, "customers_by_tier", scope, tier_amounts=True, viewer=viewer)
    assert result.counts == dict(counts)
    for tier, amount in result.amounts.items():
        if who == "teller1":
            assert amount is None  # a serving teller's book carries no amounts
        elif who == "bm1" and tier in ("private_banking", "wealth"):
            assert amount is None  # top tiers: senior managers and the owning RM only
        else:
            assert amount == assets[tier]


def test_the_world_customers_are_counted_where_they_belong(refreshed, world):
    """c_rm2 (owner rm2, served by teller1) is in rm2's and teller1's books, once each, and
    once in branch B1 and in the bank; c_rm3 is not in B1."""
    session, _now = refreshed
    s = _scopes(world)
    rm2 = scopes.RecordScope("own", user_id=world.staff["rm2"])
    assert figures(session, "customers_by_tier", rm2).counts.get("mass", 0) >= 1
    assert figures(session, "customers_by_tier", s["teller1"]).counts.get("mass", 0) >= 1
    b1 = figures(session, "customers_by_tier", s["bm1"]).counts
    assert "wealth" not in b1 or b1["wealth"] == _expected_tiers(session, s["bm1"])[0]["wealth"]


def test_open_tasks_split_overdue_at_the_refresh_time(refreshed, world):
    session, now = refreshed
    scope = _scopes(world)["senior"]
    expected = Counter()
    for task in session.query(FollowUp).filter_by(status="open").execution_options(
            crm_unscoped=True):
        expected["overdue" if task.due_at < now else "open"] += 1
    assert figures(session, "open_tasks", scope).counts == dict(expected)


def test_interactions_by_channel_in_a_branch(refreshed, world):
    session, now = refreshed
    scope = _scopes(world)["bm1"]
    start = summaries.months_back(now)
    expected = Counter()
    for interaction in session.query(Interaction).execution_options(crm_unscoped=True):
        customer = session.get(Customer, interaction.customer_id)
        if (customer.branch_id == scope.branch_id
                and interaction.occurred_at.date() >= start):
            expected[interaction.channel] += 1
    assert figures(session, "interactions_by_channel", scope).counts == dict(expected)


def test_no_scope_sees_no_figures(refreshed):
    session, _now = refreshed
    assert figures(session, "customers_by_tier", scopes.NOTHING).empty


def test_a_room_can_add_a_metric(app, refreshed, world):
    """``register_metric`` adds a figure without a migration; the refresh computes it."""
    from sqlalchemy import select

    session, now = refreshed

    def complaints(session, now):
        c, i = Customer.__table__, Interaction.__table__
        return (select(c.c.branch_id, c.c.owner_id, c.c.teller_id,
                       i.c.topic.label("dim"), summaries.no_amount())
                .select_from(i.join(c, c.c.id == i.c.customer_id)))

    summaries.register_metric("test_topics", complaints)
    try:
        summaries.refresh_all(session, now=now)
        result = figures(session, "test_topics", _scopes(world)["senior"])
        total = session.query(Interaction).execution_options(crm_unscoped=True).count()
        assert sum(result.counts.values()) == total
    finally:
        summaries._METRICS.pop("test_topics")
        session.rollback()


def test_refresh_replaces_rather_than_adds(refreshed, world):
    session, now = refreshed
    scope = _scopes(world)["senior"]
    first = figures(session, "customers_by_tier", scope).counts
    summaries.refresh_all(session, now=now)
    assert figures(session, "customers_by_tier", scope).counts == first
    session.rollback()
