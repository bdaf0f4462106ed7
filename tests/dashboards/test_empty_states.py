"""Home panels with nothing to draw say why and what to do next, with a link the user may open,
instead of an empty chart or a row of zero bars."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, insert

from backoffice.dashboards import summaries
from models.base import utcnow
from models.summaries import DashboardSummary
from tests.support import kept_rows
from tests.support.web import PASSWORD

S = DashboardSummary.__table__
NEWCOMER = "rm_newcomer"


def _panel(page: str, key: str) -> str:
    start = page.index(f'id="panel-{key}"')
    return page[start:page.index('<div class="col-md-', start) if '<div class="col-md-'
                in page[start:] else len(page)]


def _refresh(app):
    from backoffice.extensions import db

    with app.app_context():
        summaries.refresh_all(db.session)
        db.session.commit()
        db.session.remove()


@pytest.fixture
def newcomer(app, world):
    """A relationship manager of branch B1 who owns no customer yet (inactive afterwards, so
    no other test finds an extra active RM in B1)."""
    from backoffice.extensions import db
    from tests.support.world import ACCEPTED_AT

    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.find_user(username=NEWCOMER) or sm.add_user(
            username=NEWCOMER, first_name="新", last_name="经理",
            email=f"{NEWCOMER}@example.com", role=sm.find_role("RelationshipManager"),
            password=PASSWORD)
        user.branch_id, user.active = world.branches["B1"], True
        user.confidentiality_accepted_at = ACCEPTED_AT
        db.session.commit()
        user_id = user.id
        db.session.remove()
    _refresh(app)
    yield user_id
    with app.app_context():
        db.session.execute(delete(S).where(S.c.staff_id == user_id))
        app.appbuilder.sm.get_user_by_id(user_id).active = False
        db.session.commit()
        db.session.remove()


def test_an_empty_book_says_what_to_do_on_every_panel(client_as, newcomer):
    """A new RM's home: every built-in panel is there, none draws a chart, each says why it
    is empty and links to a screen the RM may open."""
    page = client_as(NEWCOMER).get("/").get_data(as_text=True)
    for key in ("tiers", "movement", "channels", "tasks", "flow"):
        panel = _panel(page, key)
        assert 'data-empty="yes"' in panel, key
        assert "data-figure" not in panel, key
        link = re.search(r'class="btn btn-sm btn-default dashboard-empty-action" href="([^"]+)"',
                         panel)
        assert link, key
        assert client_as(NEWCOMER).get(link.group(1)).status_code == 200, (key, link.group(1))


def test_a_book_with_figures_draws_charts_not_empty_states(client_as, newcomer):
    page = client_as("rm1").get("/").get_data(as_text=True)
    for key in ("tiers", "channels", "tasks"):
        panel = _panel(page, key)
        assert "data-figure" in panel and 'data-empty="yes"' not in panel, key


def test_customers_without_a_tier_point_to_the_tier_refresh(app, client_as, newcomer, world):
    """Figures where every customer of the book lacks a tier: the tier panel says to run the
    tier refresh (a zero-height chart would say nothing)."""
    from backoffice.extensions import db

    with app.app_context():
        db.session.execute(insert(S), [{
            "metric": "customers_by_tier", "dim": "", "branch_id": world.branches["B1"],
            "staff_id": newcomer, "staff_role": "owner", "count": 7, "amount": 0,
            "refreshed_at": utcnow()}])
        db.session.commit()
        db.session.remove()
    panel = _panel(client_as(NEWCOMER).get("/").get_data(as_text=True), "tiers")
    assert 'data-empty="yes"' in panel and "7" in panel
    assert re.search(r'href="/segments/?"', panel)


@pytest.fixture
def never_refreshed(app, world):
    """The figures as on a fresh bank (never computed: the state reads the whole table, so it
    is emptied for the test); afterwards every row is put back as it was, not recomputed (a
    refresh would drop the rows other fixtures planted and restamp the rest)."""
    from backoffice.extensions import db

    with app.app_context():
        figures = kept_rows.snapshot(db.session, S)
        kept_rows.take_away(db.session, figures)
        db.session.commit()
        db.session.remove()
    yield
    with app.app_context():
        kept_rows.put_back(db.session, figures)
        db.session.commit()
        db.session.remove()


def test_figures_never_computed_offer_the_refresh_to_those_who_may(client_as, never_refreshed):
    senior = _panel(client_as("senior").get("/").get_data(as_text=True), "tiers")
    assert 'data-empty="yes"' in senior and 'href="#refresh-figures"' in senior
    rm = _panel(client_as("rm1").get("/").get_data(as_text=True), "tiers")
    assert 'data-empty="yes"' in rm and "#refresh-figures" not in rm
    assert "dashboard-empty-action" not in rm  # the RM may not refresh: no dead button
