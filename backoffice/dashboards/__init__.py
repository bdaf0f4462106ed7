"""Home dashboards per role (issue 9): panels from a registry, figures from summary tables.

``register(appbuilder)`` installs the built-in panels and the "refresh figures" endpoint; other
rooms add panels with ``backoffice.dashboards.registry.register_panel`` and metrics with
``backoffice.dashboards.summaries.register_metric``.
"""
from backoffice.dashboards.views import DashboardView, register

__all__ = ["DashboardView", "register"]
