"""Account and transaction screens: a customer's holdings and the movements on them."""
from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_appbuilder import expose, has_access
from flask_babel import lazy_gettext as _l
from wtforms.validators import NumberRange

from backoffice.customers.labels import ACCOUNT_LABELS, TRANSACTION_LABELS
from backoffice.customers.refs import CustomerRefField
from backoffice.datamodel import CrmInterface
from backoffice.fields.screens import CustomFieldsViewMixin
from backoffice.formatting import choice_label, local_time, money
from backoffice.security.policy import may_see_deep_profile
from backoffice.views_base import CrmModelView, choice_select
from models import Account, Transaction
from models import choices as c


class AccountView(CustomFieldsViewMixin, CrmModelView):
    """Accounts (holdings) of customers in scope."""

    custom_field_entity = "account"
    exportable = True
    datamodel = CrmInterface(Account)
    class_permission_name = "Account"
    route_base = "/accounts"
    list_title = _l("Accounts")
    show_title = _l("Account")
    add_title = _l("Add account")
    edit_title = _l("Edit account")
    label_columns = ACCOUNT_LABELS
    list_columns = ["account_no", "customer", "product", "balance", "status", "opened_on"]
    search_columns = ["account_no", "customer", "product", "status", "opened_on"]
    customer_number_search = True
    add_columns = ["customer", "account_no", "product", "balance", "currency", "opened_on",
                   "status"]
    edit_columns = ["product", "balance", "opened_on", "closed_on", "status"]
    show_columns = ["account_no", "customer", "product", "balance", "currency", "opened_on",
                    "closed_on", "status"]
    add_form_extra_fields = {
        "customer": CustomerRefField(),
        "status": choice_select(_l("Status"), c.ACCOUNT_STATUSES),
    }
    edit_form_extra_fields = {"status": choice_select(_l("Status"), c.ACCOUNT_STATUSES)}
    formatters_columns = {"balance": money, "status": choice_label(c.ACCOUNT_STATUSES)}
    validators_columns = {
        "balance": [NumberRange(min=0, message=_l("Balance cannot be negative."))],
    }
    base_order = ("opened_on", "desc")  # account numbers are encrypted: no order

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        """An account's balance belongs to its customer's deep profile: only those who may see
        that profile may open the edit form (which would show the balance)."""
        account = self.datamodel.get(pk)
        if account is None:
            abort(404)
        if not may_see_deep_profile(account.customer):
            flash(_l("You may not edit this account: its balance is part of the customer's "
                     "deep profile."), "warning")
            return redirect(url_for(".show", pk=pk))
        return super().edit(pk)


class TransactionView(CrmModelView):
    """Transactions of customers in scope; read-only (they come from the core system)."""

    exportable = True
    datamodel = CrmInterface(Transaction)
    class_permission_name = "Transaction"
    route_base = "/transactions"
    list_title = _l("Transactions")
    show_title = _l("Transaction")
    label_columns = TRANSACTION_LABELS
    list_columns = ["occurred_at", "customer", "account", "direction", "amount", "type",
                    "channel"]
    show_columns = list_columns + ["counterparty", "description"]
    search_columns = ["customer", "occurred_at", "direction", "type", "channel"]
    customer_number_search = True
    base_permissions = ["can_read"]
    base_order = ("occurred_at", "desc")
    formatters_columns = {
        "occurred_at": local_time,
        "amount": money,
        "direction": choice_label(c.DIRECTIONS),
        "type": choice_label(c.TRANSACTION_TYPES),
        "channel": choice_label(c.TRANSACTION_CHANNELS),
    }
