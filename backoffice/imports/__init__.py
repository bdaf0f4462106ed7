"""Bulk spreadsheet import (批量导入) and governed export approvals.

The pure core (reading, mapping, cells, rows) has no database and no Flask app, so every rule is
unit-tested on plain data. The database stage builds on it: ``service`` (upload, mapping,
templates, approval), ``pipeline`` (dry run and commit, chunk by chunk), the per-kind targets
(``customers_target``, ``holdings_target``, ``interactions_target``; a bank's first day:
``org_targets`` for branches and products, ``staff_target``), ``kinds`` (who imports which
kind), ``revert``, ``report``,
``files``; the screens are in ``views``, the CLI in ``cli``, the jobs in ``jobs.imports``.
"""
from flask_babel import lazy_gettext as _l

MENU_IMPORTS = "Imports"
MENU_EXPORT_REQUESTS = "Export requests"


def register(appbuilder) -> None:
    from backoffice.imports import file_keys
    from backoffice.imports.export_views import ExportRequestView
    from backoffice.imports.views import ImportView
    from config import roles as r

    file_keys.register()  # `flask crm keys rotate/status` re-seal the stored files too
    appbuilder.add_view(ImportView, MENU_IMPORTS, label=_l("Imports"), icon="fa-upload",
                        category=r.CATEGORY_SYSTEM, category_label=_l("System"),
                        category_icon="fa-wrench")
    from backoffice.security.set_password import SetPasswordView

    appbuilder.add_view_no_menu(SetPasswordView)  # the links a staff import hands out
    appbuilder.add_view(ExportRequestView, MENU_EXPORT_REQUESTS, label=_l("Export requests"),
                        icon="fa-download", category=r.CATEGORY_SYSTEM,
                        category_label=_l("System"), category_icon="fa-wrench")
