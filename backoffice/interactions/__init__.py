"""Interactions with customers and follow-up tasks ("my tasks", overdue first)."""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.interactions.api import FollowUpApi, InteractionApi
    from backoffice.interactions.views import FollowUpView, InteractionView, MyTasksView

    category = dict(category=r.CATEGORY_SERVICE, category_label=_l("Service"),
                    category_icon="fa-comments")
    appbuilder.add_view(MyTasksView, r.MENU_MY_TASKS, label=_l("My tasks"), icon="fa-check",
                        **category)
    appbuilder.add_view(InteractionView, r.MENU_INTERACTIONS, label=_l("Interactions"),
                        icon="fa-comment", **category)
    appbuilder.add_view(FollowUpView, r.MENU_FOLLOW_UPS, label=_l("Follow-ups"),
                        icon="fa-tasks", **category)
    appbuilder.add_api(InteractionApi)
    appbuilder.add_api(FollowUpApi)
