"""Make the database's roles match ``config/roles.py`` (``flask crm init``).

Idempotent: permissions are created if missing, each configured role ends with exactly the
configured set (grants FAB added behind our back, such as everything-to-Admin, are removed), and
roles not in the configuration are left alone (admins may have created them on purpose).
"""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field


@dataclass
class InitReport:
    roles_created: list = field(default_factory=list)
    grants_added: int = 0
    grants_removed: int = 0
    admin_created: bool = False
    admin_password: str | None = None


def sync_roles(appbuilder, roles: dict) -> InitReport:
    """Create every configured role and set its permissions to exactly the configured pairs."""
    sm = appbuilder.sm
    report = InitReport()
    for name in roles:
        if sm.find_role(name) is None:
            sm.add_role(name)
            report.roles_created.append(name)
    _register_view_permissions(appbuilder)
    for name, spec in roles.items():
        role = sm.find_role(name)
        wanted = set()
        for perm, view in spec["permissions"]:
            if perm == "*":
                wanted.update(_all_permissions_on(sm, view))
            else:
                wanted.add(sm.add_permission_view_menu(perm, view))
        current = set(role.permissions)
        for pv in current - wanted:
            role.permissions.remove(pv)
            report.grants_removed += 1
        for pv in wanted - current:
            role.permissions.append(pv)
            report.grants_added += 1
    sm.session.commit()
    return report


def generate_password(length: int = 20) -> str:
    """A random password meeting the policy: mixed classes, no ambiguity about strength."""
    alphabet = string.ascii_letters + string.digits + "-_!@#%"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate)):
            return candidate


def ensure_admin(appbuilder, username: str, password: str | None, report: InitReport) -> None:
    """Create the admin user once; never touch an existing one's password."""
    sm = appbuilder.sm
    if sm.find_user(username=username) is not None:
        return
    password = password or generate_password()
    user = sm.add_user(
        username=username, first_name="Admin", last_name="System",
        email=f"{username}@bank.example", role=sm.find_role("Admin"), password=password,
    )
    if not user:
        raise RuntimeError(f"could not create admin user {username!r}")
    report.admin_created = True
    report.admin_password = password


def _all_permissions_on(sm, view_name: str) -> list:
    """Every permission FAB registered on a view (for the ``"*"`` entries of the role data)."""
    view_menu = sm.find_view_menu(view_name)
    if view_menu is None:
        return []
    return sm.session.query(sm.permissionview_model).filter_by(view_menu_id=view_menu.id).all()


def _register_view_permissions(appbuilder) -> None:
    """Create the permissions of every registered view, without FAB's grant-all-to-Admin.

    FAB adds each new permission to the admin role unless that role is "builtin" (listed in
    ``FAB_ROLES``); declaring it builtin for the duration keeps Admin's set as configured.
    """
    sm = appbuilder.sm
    saved = sm._builtin_roles
    sm._builtin_roles = {**saved, sm.auth_role_admin: []}
    try:
        appbuilder.add_permissions(update_perms=True)
    finally:
        sm._builtin_roles = saved
