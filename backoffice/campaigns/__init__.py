"""Campaigns (营销活动): planning, approval, the suitability gate, the control group, targets,
outcomes and effect evaluation (效果评估).

``gate`` and ``stats`` are pure rules; ``service`` holds the use cases shared by the screens, the
jobs (``jobs.campaigns``) and the CLI; ``evaluation`` computes the figures; ``views`` the screens.
"""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.campaigns import customer_panel
    from backoffice.campaigns.views import CampaignsView

    customer_panel.register()  # the 360 page's campaigns panel

    appbuilder.add_view(CampaignsView, r.MENU_CAMPAIGNS, label=_l("Campaigns"),
                        href="/campaigns/", icon="fa-bullhorn", category=r.CATEGORY_MARKETING,
                        category_label=_l("Marketing"), category_icon="fa-bullhorn")
