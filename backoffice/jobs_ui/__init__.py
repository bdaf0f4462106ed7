"""Background job runs: list, detail and a JSON progress endpoint the screens poll."""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.jobs_ui.views import JobRunView

    appbuilder.add_view(JobRunView, r.MENU_JOBS, label=_l("Background jobs"), icon="fa-cogs",
                        category=r.CATEGORY_SYSTEM, category_label=_l("System"),
                        category_icon="fa-wrench")
