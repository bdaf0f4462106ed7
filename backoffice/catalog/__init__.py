"""Organisation and catalogue: branches and products (small reference tables)."""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.catalog.views import BranchView, ProductView

    category = dict(category=r.CATEGORY_CATALOG, category_label=_l("Organisation"),
                    category_icon="fa-sitemap")
    appbuilder.add_view(BranchView, r.MENU_BRANCHES, label=_l("Branches"), icon="fa-bank",
                        **category)
    appbuilder.add_view(ProductView, r.MENU_PRODUCTS, label=_l("Products"), icon="fa-cube",
                        **category)
