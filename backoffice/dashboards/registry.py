"""The home dashboard's panels, as a registry any room can add to.

A panel is a title, the permission a role must hold to see it, an order and a ``build()`` that
returns what the template draws (a chart figure from ``backoffice.charts``, or figures to list)
or ``None`` when it has nothing to show for this user. Rooms register their panels in their
``register(appbuilder)``::

    from backoffice.dashboards.registry import Panel, register_panel
    register_panel(Panel("churn_matrix", _l("Churn: value x risk"), build_matrix,
                         permission=("can_see_panel_churn_matrix", "Dashboard"), order=50))

Who sees a panel is decided by that permission alone, granted to roles in ``config/roles.py``
(``DASHBOARD_PANELS``), never by a role's name: a bank that adds or renames a role gives it
panels by granting their permissions. A new ``can_see_panel_*`` permission is listed in
``PANEL_PERMISSIONS`` there, which makes it one of the ``Dashboard`` view's own permissions
(``DashboardView.base_permissions``); a panel that summarises a screen may use that screen's
read permission instead (the jobs panel: ``("can_read", "JobRun")``).

``build`` runs inside the request, under the user's record scope: it must read figures through
``backoffice.dashboards.figures`` (or another scoped, bounded query), never scan big tables.
Slots already reserved for other rooms' panels: ``churn_matrix`` (issue 7) and
``campaign_funnel`` (issue 6), ordered right after the tier panel.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

EVERY_USER = None


@dataclass(frozen=True)
class Panel:
    key: str
    title: object  # a lazy string
    build: Callable[[], dict | None]
    # (permission, view) a role must grant; None: every signed-in user.
    permission: tuple[str, str] | None = EVERY_USER
    order: int = 100
    width: int = 6  # Bootstrap columns out of 12
    note: object = None
    tags: tuple = field(default_factory=tuple)


_PANELS: dict[str, Panel] = {}
# Where the rooms building on this one put their panels (see the module docstring).
RESERVED_ORDERS = {"churn_matrix": 25, "campaign_funnel": 26}


def register_panel(panel: Panel) -> None:
    """Add or replace a panel (by key)."""
    _PANELS[panel.key] = panel


def unregister_panel(key: str) -> None:
    _PANELS.pop(key, None)


def panels_for(user) -> list[Panel]:
    """The panels the user's roles grant, in order."""
    from backoffice.security.permissions import has_permission

    chosen = [p for p in _PANELS.values()
              if p.permission is None or has_permission(user, *p.permission)]
    return sorted(chosen, key=lambda p: (p.order, p.key))


def all_panels() -> list[Panel]:
    return sorted(_PANELS.values(), key=lambda p: (p.order, p.key))
