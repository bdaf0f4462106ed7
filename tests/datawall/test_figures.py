"""The wall's figures equal a recomputation from the summary rows, for the bank and a branch,
and follow the viewer's deep-profile rule; the refresh feeds them from the real tables."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backoffice.datawall import figures as wf
from backoffice.security import policy
from models import Customer, Staff
from tests.datawall.conftest import P1_MARKER, TOP_ASSETS_MARKER, expected_tiles


@pytest.fixture
def session(app, planted):
    from backoffice.extensions import db

    with app.app_context():
        yield db.session
        db.session.remove()


def viewer_of(session, world, username):
    return policy.viewer_for(session.get(Staff, world.staff[username]))


def _compare(shown: dict, expected: dict) -> None:
    tiles = shown["tiles"]
    assert tiles["tiers"]["counts"] == expected["tiers"]["counts"]
    assert tiles["tiers"]["amounts"] == expected["tiers"]["amounts"]
    assert tiles["tiers"]["total"] == expected["tiers"]["total"]
    assert tiles["tiers"]["assets"] == expected["tiers"]["assets"]
    assert tiles["tasks"] == expected["tasks"]
    assert tiles["churn"] == expected["churn"]
    assert tiles["campaigns"]["stages"] == expected["campaigns"]["stages"]
    assert tiles["complaints"] == expected["complaints"]
    assert {k: tiles["flow"][k] for k in ("months", "in", "out")} == expected["flow"]
    assert tiles["movement"] == expected["movement"]
    assert tiles["channels"] == expected["channels"]


def test_the_bank_wall_equals_the_summary_rows(session, world):
    senior = viewer_of(session, world, "senior")
    wall = wf.bank_wall(senior.scope)
    shown = wf.wall_figures(session, wall, senior)
    assert set(shown["tiles"]) == set(wf.TILES)
    _compare(shown, expected_tiles(session))
    assert shown["tiles"]["churn"]["counts"]["P1"] >= P1_MARKER  # the marker counts in the bank
    assert shown["refreshed_at"] is not None


def test_a_branch_wall_equals_its_summary_rows_with_the_managers_deep_profile_rule(
        session, world):
    """bm1's B1 wall: counts of every tier, but no assets of private banking or wealth."""
    bm1 = viewer_of(session, world, "bm1")
    wall = wf.default_wall(session, bm1.scope)
    assert wall.branch_id == world.branches["B1"]
    shown = wf.wall_figures(session, wall, bm1)
    expected = expected_tiles(session, world.branches["B1"], top_assets=False)
    _compare(shown, expected)
    assert shown["tiles"]["tiers"]["amounts"]["private_banking"] is None
    # the planted private-banking assets are among what the senior manager sees and bm1 not
    # (whatever other tests left in B1's other tiers counts for both)
    senior = viewer_of(session, world, "senior")
    every_amount = wf.wall_figures(session, wf.branch_wall(session, senior.scope,
                                                           world.branches["B1"]), senior)
    hidden = every_amount["tiles"]["tiers"]["assets"] - shown["tiles"]["tiers"]["assets"]
    assert hidden >= TOP_ASSETS_MARKER
    assert shown["tiles"]["churn"]["counts"]["P1"] < P1_MARKER  # B2's marker stays in B2


def test_the_senior_managers_view_of_a_branch_equals_its_rows_with_every_amount(session, world):
    senior = viewer_of(session, world, "senior")
    wall = wf.branch_wall(session, senior.scope, world.branches["B1"])
    shown = wf.wall_figures(session, wall, senior)
    _compare(shown, expected_tiles(session, world.branches["B1"]))
    assert shown["tiles"]["tiers"]["amounts"]["private_banking"] >= TOP_ASSETS_MARKER


def test_the_refresh_feeds_the_wall_from_the_customer_table(app, world, refreshed):
    """Without planted rows, the bank's customer count is the live customers in the table."""
    from backoffice.extensions import db

    with app.app_context():
        senior = viewer_of(db.session, world, "senior")
        shown = wf.wall_figures(db.session, wf.bank_wall(senior.scope), senior, tiles={"tiers"})
        live = db.session.execute(select(func.count()).select_from(Customer).where(
            Customer.status != "closed").execution_options(crm_unscoped=True)).scalar_one()
        db.session.remove()
    assert set(shown["tiles"]) == {"tiers"}
    assert shown["tiles"]["tiers"]["total"] == live


@pytest.mark.parametrize("username, walls", [
    ("senior", {"bank", "B1", "B2"}), ("bm1", {"B1"}), ("bm2", {"B2"}),
    ("rm1", set()), ("teller1", set()), ("admin", set()), ("auditor", set())])
def test_the_scope_decides_which_walls_open(session, world, username, walls):
    scope = viewer_of(session, world, username).scope
    codes = {pk: code for code, pk in world.branches.items()}
    opened = {"bank"} if wf.bank_wall(scope) else set()
    opened |= {codes[pk] for pk in codes if wf.branch_wall(session, scope, pk)}
    assert opened == walls
    assert (wf.default_wall(session, scope) is not None) == bool(walls)
    listed = {key for key, _pk, _name in wf.walls_for(session, scope)}
    assert {"bank"} & walls <= listed
    assert {f"branch-{world.branches[c]}" for c in walls - {"bank"}} <= listed
    assert not any(key == f"branch-{world.branches[c]}" for key in listed
                   for c in {"B1", "B2"} - walls)
