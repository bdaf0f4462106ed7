"""What the customer 360 page shows, as a registry any room can add to.

The page is a header (who the customer is, badges, key figures, actions) above tabs. The
customers room registers the tabs it owns; feature rooms (churn, segments, service, ...) add
their own panels to the header or to a tab, and tabs or header actions of their own, in their
``register(appbuilder)``, so the page never imports a feature::

    from backoffice.customers.panels import Panel, register_panel
    register_panel(Panel("churn_badge", HEADER, "churn/_customer_churn_badge.html",
                         build=badge_of, visible=requires("can_read", "ChurnWarning")))

Every entry is asked whether the viewer may see it (``visible(viewer, customer)``) before it is
built, and ``build(customer)`` may still answer ``None`` when it has nothing to show. Builders run
in the request, under the viewer's record scope: one bounded query about this customer each,
never a scan of a whole table. Tabs other than the first are drawn when opened (``lazy``), so
opening the page costs the header and the first tab only.

This module imports no feature; it is core.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g
from flask_appbuilder.const import PERMISSION_PREFIX
from markupsafe import Markup

from backoffice.security.policy import Viewer, current_viewer

HEADER = "header"  # badges and notices in the page header


def always(_viewer: Viewer, _customer) -> bool:
    return True


def requires(permission: str, view: str) -> Callable[[Viewer, object], bool]:
    """A ``visible`` test: the viewer's roles grant ``permission`` on ``view``."""
    def check(viewer: Viewer, _customer) -> bool:
        return viewer.has(permission, view)
    return check


def endpoint_allowed(endpoint: str, viewer: Viewer | None = None) -> bool:
    """Whether FAB's ``has_access`` would let the viewer through ``endpoint``: the permission
    the view method maps to (``method_permission_name``, else its own), among the view's
    ``base_permissions``, granted on the view's permission name. The same check the route
    makes, so a button is shown exactly when its target would answer."""
    viewer = viewer or current_viewer()
    bound = current_app.view_functions.get(endpoint)
    view = getattr(bound, "__self__", None)
    own = getattr(bound, "_permission_name", None)
    if view is None or own is None:
        return False
    name = (view.method_permission_name or {}).get(bound.__name__) or own
    permission = name if name.startswith(PERMISSION_PREFIX) else PERMISSION_PREFIX + name
    return permission in view.base_permissions \
        and viewer.has(permission, view.class_permission_name)


@dataclass(frozen=True)
class Panel:
    """A block of the page: in the header (``HEADER``) or inside the tab ``place``."""

    key: str
    place: str
    template: str
    build: Callable[[object], dict | None]
    visible: Callable[[Viewer, object], bool] = always
    order: int = 100


@dataclass(frozen=True)
class Tab:
    """A tab: its own template (may be None: a tab made of panels only) and its panels."""

    key: str
    title: object  # a lazy string
    template: str | None
    build: Callable[[object], dict] | None = None
    visible: Callable[[Viewer, object], bool] = always
    order: int = 100
    lazy: bool = True
    icon: str = ""


@dataclass(frozen=True)
class Action:
    """A button in the header. ``url(customer)`` builds the target; ``visible`` decides."""

    key: str
    label: object
    url: Callable[[object], str]
    visible: Callable[[Viewer, object], bool]
    icon: str = ""
    style: str = "btn-default"
    order: int = 100


_PANELS: dict[str, Panel] = {}
_TABS: dict[str, Tab] = {}
_ACTIONS: dict[str, Action] = {}


def register_panel(panel: Panel) -> None:
    """Add or replace a panel (by key)."""
    _PANELS[panel.key] = panel


def register_tab(tab: Tab) -> None:
    """Add or replace a tab (by key)."""
    _TABS[tab.key] = tab


def register_action(action: Action) -> None:
    """Add or replace a header action (by key)."""
    _ACTIONS[action.key] = action


def unregister(key: str) -> None:
    for registry in (_PANELS, _TABS, _ACTIONS):
        registry.pop(key, None)


def _ordered(items):
    return sorted(items, key=lambda item: (item.order, item.key))


def tabs_for(customer, viewer: Viewer | None = None) -> list[Tab]:
    """The tabs this viewer may open for this customer, in order."""
    viewer = viewer or current_viewer()
    return [tab for tab in _ordered(_TABS.values()) if tab.visible(viewer, customer)]


def tab_for(key: str, customer, viewer: Viewer | None = None) -> Tab | None:
    return next((tab for tab in tabs_for(customer, viewer) if tab.key == key), None)


def actions_for(customer, viewer: Viewer | None = None) -> list[tuple[Action, str]]:
    """(action, url) of the header buttons the viewer may use on this customer."""
    viewer = viewer or current_viewer()
    return [(action, action.url(customer)) for action in _ordered(_ACTIONS.values())
            if action.visible(viewer, customer)]


def _common() -> dict:
    """Helpers every panel template may use (formatting, labels, the policy's presentation)."""
    from backoffice.formatting import local_time, money
    from backoffice.security.presentation import HIDDEN_TEXT, present
    from models import choices

    return {"money": money, "local_time": local_time, "choices": choices, "present": present,
            "hidden_text": HIDDEN_TEXT}


def _render(template: str, customer, data: dict) -> Markup:
    """A panel's template with its own data (Flask's context processors are not run: panels
    use the environment's globals, ``url_for``, ``_`` and filters, and what they built)."""
    return Markup(current_app.jinja_env.get_template(template).render(
        customer=customer, **{**_common(), **data}))


def per_request(key: str, compute: Callable[[], object]):
    """``compute()`` once per request (a header badge and a tab panel reading the same row)."""
    cache = g.setdefault("_crm_360_cache", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def render_panels(place: str, customer, viewer: Viewer | None = None) -> list[Markup]:
    """The panels of ``place`` the viewer may see, each rendered with what it built."""
    viewer = viewer or current_viewer()
    shown = []
    for panel in _ordered(p for p in _PANELS.values() if p.place == place):
        if not panel.visible(viewer, customer):
            continue
        data = panel.build(customer)
        if data is None:
            continue
        shown.append(_render(panel.template, customer, data))
    return shown


def render_tab(tab: Tab, customer, viewer: Viewer | None = None, **context) -> Markup:
    """A tab's own content followed by the panels registered into it."""
    parts = []
    if tab.template is not None:
        data = tab.build(customer) if tab.build is not None else {}
        parts.append(_render(tab.template, customer, {**context, **(data or {})}))
    parts.extend(render_panels(tab.key, customer, viewer))
    return Markup("").join(parts)
