"""Home panels follow the permissions a role holds, never its name.

A bank adds a role the code has never heard of, as data in ``config/roles.py`` (here: a
regional supervisor with bank-wide scope holding only the tier panel's grant): its members see
that panel, with figures in their scope, and no other; a role without panel grants sees none.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.security.seeding import sync_roles
from config.roles import DASHBOARD_PANELS, OWN_ACCOUNT, PANEL_PERMISSIONS, ROLES
from models import Customer, Staff
from tests.support.web import PASSWORD, csrf_token
from tests.support.world import ACCEPTED_AT

PANELS = re.compile(r'id="panel-([a-z_]+)"')
SUPERVISOR, OBSERVER = "区域督导", "区域观察员"
NEW_ROLES = {
    SUPERVISOR: {"label": "Regional supervisor", "scope": "all",
                 "permissions": OWN_ACCOUNT + DASHBOARD_PANELS["tiers"]},
    OBSERVER: {"label": "Regional observer", "scope": "all", "permissions": OWN_ACCOUNT},
}


@pytest.fixture
def new_roles(app, world, client_as, monkeypatch):
    """The two roles added to the role data and synced like ``flask crm init``, one user each;
    the dashboard figures refreshed. Everything is removed afterwards."""
    for name, spec in NEW_ROLES.items():
        monkeypatch.setitem(ROLES, name, spec)
    sm = app.appbuilder.sm
    with app.app_context():
        sync_roles(app.appbuilder, NEW_ROLES)
        for username, role in (("supervisor_t", SUPERVISOR), ("observer_t", OBSERVER)):
            user = sm.add_user(username=username, first_name=username, last_name="测试",
                               email=f"{username}@example.com", role=sm.find_role(role),
                               password=PASSWORD)
            user.confidentiality_accepted_at = ACCEPTED_AT
        db.session.commit()
        db.session.remove()
    senior = client_as("senior")
    assert senior.post("/dashboard/refresh",
                       data={"csrf_token": csrf_token(senior, "/")}).status_code == 302
    yield
    with app.app_context():
        for username in ("supervisor_t", "observer_t"):
            db.session.delete(db.session.execute(
                select(Staff).where(Staff.username == username)).scalar_one())
        db.session.flush()
        for name in NEW_ROLES:
            db.session.delete(sm.find_role(name))
        db.session.commit()
        db.session.remove()


def test_every_built_in_panel_has_a_declared_permission(app):
    from backoffice.dashboards.registry import all_panels

    on_dashboard = {p.key: p.permission for p in all_panels() if p.key in PANEL_PERMISSIONS}
    assert on_dashboard == {key: (perm, "Dashboard") for key, perm in PANEL_PERMISSIONS.items()}


def test_a_role_added_as_data_sees_the_panel_it_is_granted_and_no_other(
        app, new_roles, client_as):
    page = client_as("supervisor_t").get("/").get_data(as_text=True)
    assert set(PANELS.findall(page)) == {"tiers"}
    # Its bank-wide scope (also data) decides the figures: every live customer is counted.
    table = page.split('id="panel-tiers"')[1].split("</table>")[0]
    counts = [int(c) for c in re.findall(r"<td>(\d+)</td>", table)]
    with app.app_context():
        live = db.session.query(Customer).filter(Customer.status != "closed").execution_options(
            crm_unscoped=True).count()
        db.session.remove()
    assert counts and sum(counts) == live


def test_a_role_without_panel_grants_sees_no_panel(new_roles, client_as):
    page = client_as("observer_t").get("/").get_data(as_text=True)
    assert PANELS.findall(page) == []


def test_the_named_role_loses_a_panel_with_its_grant(app, world, client_as):
    """Taking the money-flow grant from BranchManager hides the panel from bm1, whatever the
    role is called; giving it back restores it."""
    sm = app.appbuilder.sm
    [(permission, view)] = DASHBOARD_PANELS["flow"]
    senior = client_as("senior")
    senior.post("/dashboard/refresh", data={"csrf_token": csrf_token(senior, "/")})
    assert 'id="panel-flow"' in client_as("bm1").get("/").get_data(as_text=True)
    with app.app_context():
        grant = sm.add_permission_view_menu(permission, view)
        manager = sm.find_role("BranchManager")
        manager.permissions.remove(grant)
        db.session.commit()
        db.session.remove()
    try:
        page = client_as("bm1").get("/").get_data(as_text=True)
        assert 'id="panel-flow"' not in page and 'id="panel-tiers"' in page
    finally:
        with app.app_context():
            manager = sm.find_role("BranchManager")
            manager.permissions.append(sm.add_permission_view_menu(permission, view))
            db.session.commit()
            db.session.remove()
