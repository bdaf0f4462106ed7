"""Whether a user holds a permission: the one question every feature asks instead of a role name.

Roles are data (``config/roles.py``, edited by admins on the role screens), so code never tests a
role's name or scope kind; it asks whether any of the user's roles grants a (permission, view)
pair. In a request the security manager's per-request set of the user's permissions answers (one
query per request); outside one (jobs, the CLI) the user's roles are read.
"""
from __future__ import annotations

from flask import current_app, has_request_context


def has_permission(user, permission: str, view: str) -> bool:
    """Whether any of ``user``'s roles grants ``permission`` on ``view`` (an inactive user or
    nobody holds nothing)."""
    if user is None or not getattr(user, "is_active", False):
        return False
    if has_request_context() and getattr(user, "id", None) is not None:
        return current_app.appbuilder.sm._has_view_access(user, permission, view)
    return any(pv.permission.name == permission and pv.view_menu.name == view
               for role in user.roles for pv in role.permissions)
