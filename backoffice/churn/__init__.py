"""Churn early warning (流失预警): features, rule signals, trained models, scores, warnings.

``features``/``rules``/``reasons``/``training`` are pure (data frames in); ``extract`` and
``dataset`` are the grouped queries; ``registry`` stores and verifies model versions;
``scoring`` is the nightly pipeline (``jobs.scoring`` its RQ entry point); ``views`` the
screens; ``cli`` the commands.
"""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.churn import customer_panel
    from backoffice.churn.views import (ChurnModelRegistryView, ChurnSignalRuleView,
                                        ChurnWarningView)

    customer_panel.register()  # the 360 page's badge and panel

    category = {"category": r.CATEGORY_CHURN, "category_label": _l("Churn early warning"),
                "category_icon": "fa-exclamation-triangle"}
    appbuilder.add_view(ChurnWarningView, r.MENU_CHURN_WARNINGS, label=_l("Churn warnings"),
                        href="/churn/warnings/", icon="fa-bell", **category)
    appbuilder.add_link(r.MENU_CHURN_DASHBOARD, label=_l("Churn dashboard"),
                        href="/churn/dashboard/", icon="fa-bar-chart", **category)
    appbuilder.add_view(ChurnModelRegistryView, r.MENU_CHURN_MODELS, label=_l("Churn models"),
                        href="/churn/models/", icon="fa-cubes", **category)
    appbuilder.add_view(ChurnSignalRuleView, r.MENU_CHURN_SIGNALS,
                        label=_l("Churn signal settings"), icon="fa-sliders", **category)
