"""The data wall (数据大屏): a full-screen, self-refreshing page of a branch's or the bank's
figures, for a TV in the branch or the head office.

``figures`` decides which walls a viewer may open and reads their figures from the dashboard
summaries (never from customers or transactions), ``metrics`` adds the churn and campaign
figures to the summary refresh, ``tiles`` turns figures into big numbers and dark charts, and
``views`` serves the page and its JSON.
"""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.datawall import metrics
    from backoffice.datawall.views import DataWallView

    metrics.install()
    appbuilder.add_view(DataWallView, r.MENU_DATAWALL, label=_l("Data wall"), href="/datawall/",
                        icon="fa-television", category=r.CATEGORY_CUSTOMERS,
                        category_label=_l("Customer management"), category_icon="fa-users")
