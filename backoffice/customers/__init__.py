"""Customers: screens, the 360 page, accounts, transactions and the REST API."""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.customers.api import AccountApi, CustomerApi, TransactionApi
    from backoffice.customers.holdings import AccountView, TransactionView
    from backoffice.customers.search import CustomerSearchView
    from backoffice.customers import tabs
    from backoffice.customers.views import CustomerView

    tabs.register()  # the 360 page's own tabs and header actions; rooms add theirs

    category = dict(category=r.CATEGORY_CUSTOMERS, category_label=_l("Customer management"),
                    category_icon="fa-users")
    appbuilder.add_view(CustomerView, r.MENU_CUSTOMERS, label=_l("Customers"),
                        icon="fa-user", **category)
    appbuilder.add_view(AccountView, r.MENU_ACCOUNTS, label=_l("Accounts"),
                        icon="fa-credit-card", **category)
    appbuilder.add_view(TransactionView, r.MENU_TRANSACTIONS, label=_l("Transactions"),
                        icon="fa-exchange", **category)
    appbuilder.add_view_no_menu(CustomerSearchView)  # the navigation bar's search box
    for api in (CustomerApi, AccountApi, TransactionApi):
        appbuilder.add_api(api)
