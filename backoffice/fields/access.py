"""Which custom fields the current user sees and may edit (a field's ``visible_roles`` and
``editable_roles``).

Every path that shows or writes custom values (forms, lists, the 360 page, filters, the API,
exports, the operation log's presentation) asks here, so a role that may not see a field meets
it nowhere. Outside a request (jobs, the CLI) nobody is acting as a member of staff and every
field is in play; pipelines apply their own rules.
"""
from __future__ import annotations

from backoffice.fields.registry import FieldSpec, field_catalog


def current_roles() -> tuple[str, ...] | None:
    """Role names of the signed-in user; None outside a request (no user: no restriction)."""
    from flask import current_app, has_request_context

    if not has_request_context():
        return None
    user = current_app.appbuilder.sm.current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return ()
    return tuple(role.name for role in user.roles)


def visible_specs(entity: str, roles=None) -> list[FieldSpec]:
    """The entity's active fields the user (or ``roles``) sees, in display order."""
    roles = current_roles() if roles is None else roles
    return field_catalog(entity, roles=roles)


def editable_specs(entity: str, roles=None) -> list[FieldSpec]:
    """The entity's active fields the user (or ``roles``) may write."""
    roles = current_roles() if roles is None else roles
    specs = field_catalog(entity)
    if roles is None:
        return specs
    return [spec for spec in specs if spec.editable_by(roles)]


def may_see(spec: FieldSpec, roles=None) -> bool:
    roles = current_roles() if roles is None else roles
    return roles is None or spec.visible_to(roles)
