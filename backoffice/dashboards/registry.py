"""The home dashboard's panels, as a registry any room can add to.

A panel is a title, the roles that see it, an order and a ``build()`` that returns what the
template draws (a chart figure from ``backoffice.charts``, or figures to list) or ``None`` when it
has nothing to show for this user. Rooms register their panels in their ``register(appbuilder)``::

    from backoffice.dashboards.registry import Panel, register_panel
    register_panel(Panel("churn_matrix", _l("Churn: value x risk"), build_matrix,
                         roles={"SeniorManager", "BranchManager", "RelationshipManager"},
                         order=50))

``build`` runs inside the request, under the user's record scope: it must read figures through
``backoffice.dashboards.figures`` (or another scoped, bounded query), never scan big tables.
Slots already reserved for other rooms' panels: ``churn_matrix`` (issue 7) and
``campaign_funnel`` (issue 6), ordered right after the tier panel.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

ALL_ROLES = None


@dataclass(frozen=True)
class Panel:
    key: str
    title: object  # a lazy string
    build: Callable[[], dict | None]
    roles: frozenset | set | None = ALL_ROLES  # role names; None: every signed-in role
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


def panels_for(role_names) -> list[Panel]:
    """The panels any of these roles may see, in order."""
    names = set(role_names)
    chosen = [p for p in _PANELS.values() if p.roles is None or names & set(p.roles)]
    return sorted(chosen, key=lambda p: (p.order, p.key))


def all_panels() -> list[Panel]:
    return sorted(_PANELS.values(), key=lambda p: (p.order, p.key))
