"""Tiers (分层), segments (分类) and need detectors: the rule builder, the refresh, the screens.

``rules`` (pure: rule data, validation, compilation, evaluation), ``metrics`` (the registry of
computed metrics, extensible), ``catalog`` (what a rule may test), ``refresh`` (set-based),
``needs`` (evidence and next-best offers on the 360 page), ``guard`` (what counts over a rule
may reveal to a viewer), ``views`` and ``cli``.
"""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.segments import customer_panel, history
    from backoffice.segments.views import SegmentsView

    history.install()
    customer_panel.register()  # the 360 page's tab, needs panel and tier-override button
    category = {"category": r.CATEGORY_MARKETING, "category_label": _l("Marketing"),
                "category_icon": "fa-bullhorn"}
    appbuilder.add_view(SegmentsView, r.MENU_SEGMENTS, label=_l("Tiers and segments"),
                        href="/segments/", icon="fa-sitemap", **category)
    appbuilder.add_link(r.MENU_TIERS, label=_l("Tier distribution"), href="/segments/tiers",
                        icon="fa-signal", **category)
