"""Roles are data (config/roles.py) and `flask crm init` makes the database match it exactly."""
from __future__ import annotations

from backoffice.security.seeding import sync_roles
from config.roles import ROLES


def registered_names(app) -> set[str]:
    """Every view-menu name FAB can check: view permission names and menu entries."""
    names = {view.class_permission_name for view in app.appbuilder.baseviews}
    for item in app.appbuilder.menu.get_list():
        names.add(item.name)
        names.update(child.name for child in item.childs)
    return names


def test_every_configured_grant_names_a_real_view_or_menu(app):
    """A grant on a misspelt view name would silently grant nothing."""
    known = registered_names(app)
    unknown = sorted({view for spec in ROLES.values() for _, view in spec["permissions"]}
                     - known)
    assert unknown == []


def test_init_is_idempotent_and_exact(app, world):
    with app.app_context():
        again = sync_roles(app.appbuilder, ROLES)
        assert again.roles_created == [] and again.grants_added == 0
        assert again.grants_removed == 0
        sm = app.appbuilder.sm
        admin = sm.find_role("Admin")
        # FAB would grant Admin everything; the data says configuration only, no customer data.
        granted_views = {pv.view_menu.name for pv in admin.permissions}
        assert not granted_views & {"Customer", "Account", "Transaction", "Interaction",
                                    "FollowUp"}
        extra = sm.add_permission_view_menu("can_read", "Customer")
        admin.permissions.append(extra)
        sm.session.commit()
        repaired = sync_roles(app.appbuilder, ROLES)
        assert repaired.grants_removed == 1
        assert extra not in sm.find_role("Admin").permissions


def test_every_role_reaches_its_own_profile(client_as, world):
    for username in ("rm1", "teller1", "auditor", "operator", "admin"):
        assert client_as(username).get("/users/userinfo/").status_code == 200, username


def test_only_admin_manages_users_and_roles(client_as, world):
    assert client_as("admin").get("/users/list/").status_code == 200
    assert client_as("admin").get("/roles/list/").status_code == 200
    for username in ("senior", "rm1", "teller1"):
        assert client_as(username).get("/roles/list/").status_code != 200, username
