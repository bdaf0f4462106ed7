"""Who in a branch holds a permission: the target of escalations, decided by what a role may do.

Escalations used to go to "the user with the role named BranchManager", so a bank that renamed
the role, or gave a deputy the duty, escalated to nobody. The duty is a permission in
``config/roles.py`` (``ESCALATION_TARGET``); any role holding it, however it is named, receives.
"""
from __future__ import annotations

from flask_appbuilder.security.sqla.models import (
    Permission, PermissionView, Role, ViewMenu, assoc_permissionview_role, assoc_user_role)
from sqlalchemy import func, select

from config.roles import ESCALATION_TARGET
from models import Staff


def holders_of(permission: str, view: str, column=Staff.id):
    """SQL: ``column`` (staff ids by default) of active staff with a role that grants
    ``permission`` on ``view``."""
    return (select(column)
            .join(assoc_user_role, assoc_user_role.c.user_id == Staff.id)
            .join(Role, Role.id == assoc_user_role.c.role_id)
            .join(assoc_permissionview_role, assoc_permissionview_role.c.role_id == Role.id)
            .join(PermissionView,
                  PermissionView.id == assoc_permissionview_role.c.permission_view_id)
            .join(Permission, Permission.id == PermissionView.permission_id)
            .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)
            .where(Permission.name == permission, ViewMenu.name == view,
                   Staff.active.is_(True)))


def escalation_target_in(branch_column):
    """Scalar subquery: the branch's escalation target (lowest id if several hold the duty)."""
    [(permission, view)] = ESCALATION_TARGET
    return (holders_of(permission, view, func.min(Staff.id))
            .where(Staff.branch_id == branch_column).scalar_subquery())
