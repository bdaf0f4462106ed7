"""Customer screens: list, search, add/edit with validation, and the customer 360 page."""
from __future__ import annotations

from decimal import Decimal

from flask import abort
from flask_appbuilder import expose, has_access
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Email, NumberRange, Optional

from backoffice.customers import rules
from backoffice.customers.forms import MainlandMobile, PrcIdNumber
from backoffice.customers.labels import ACCOUNT_LABELS, CUSTOMER_LABELS, TRANSACTION_LABELS
from backoffice.customers.refs import CustomerRefField
from backoffice.extensions import db
from backoffice.formatting import choice_label, local_time, money
from backoffice.security import scopes
from backoffice.views_base import CrmModelView, checkboxes
from models import Account, Customer, FollowUp, Interaction, Transaction
from models import choices as c

PROFILE_FIELDS = [
    "customer_no", "name", "customer_type", "gender", "birth_date", "id_type", "id_number",
    "mobile", "email", "address", "occupation",
]
RELATIONSHIP_FIELDS = ["branch", "owner", "teller", "status", "onboarded_on", "closed_on"]
RISK_FIELDS = ["risk_tolerance", "risk_assessed_on"]
SERVICE_FIELDS = [
    "consent_sms", "consent_email", "consent_phone", "consent_wechat",
    "flag_elderly", "flag_disability", "flag_vip", "service_notes",
]
EDITABLE = [f for f in PROFILE_FIELDS if f != "customer_no"] + RISK_FIELDS + SERVICE_FIELDS + [
    "branch", "owner", "teller", "onboarded_on", "status",
]


def _select(label, mapping, required=True):
    return SelectField(
        label,
        choices=([] if required else [("", "—")]) + c.choice_list(mapping),
        validators=[DataRequired()] if required else [Optional()],
        widget=Select2Widget(),
    )


def _customer_form_fields() -> dict:
    return {
        "customer_type": _select(_l("Customer type"), c.CUSTOMER_TYPES),
        "gender": _select(_l("Gender"), c.GENDERS, required=False),
        "id_type": _select(_l("ID type"), c.ID_TYPES),
        "id_number": StringField(
            _l("ID number"), validators=[DataRequired(), PrcIdNumber()],
            widget=BS3TextFieldWidget(),
        ),
        "mobile": StringField(
            _l("Mobile"), validators=[Optional(), MainlandMobile()], widget=BS3TextFieldWidget()
        ),
        "email": StringField(
            _l("Email"), validators=[Optional(), Email()], widget=BS3TextFieldWidget()
        ),
        "risk_tolerance": _select(_l("Risk tolerance"), c.RISK_TOLERANCES, required=False),
        "status": _select(_l("Status"), c.CUSTOMER_STATUSES),
        **checkboxes(CUSTOMER_LABELS, *[f for f in SERVICE_FIELDS if f != "service_notes"]),
    }


class CustomerView(CrmModelView):
    """Customers in the user's scope; the show page is the customer 360 view."""

    datamodel = SQLAInterface(Customer)
    class_permission_name = "Customer"
    route_base = "/customers"
    list_title = _l("Customers")
    show_title = _l("Customer 360")
    add_title = _l("Add customer")
    edit_title = _l("Edit customer")
    label_columns = CUSTOMER_LABELS
    list_columns = ["customer_no", "name", "customer_type", "branch", "owner",
                    "risk_tolerance", "status"]
    search_columns = ["customer_no", "name", "branch", "owner", "status"]
    staff_username_search = ("owner",)
    order_columns = ["customer_no", "name", "status"]
    base_order = ("customer_no", "asc")
    show_fieldsets = [
        (_l("Profile"), {"fields": PROFILE_FIELDS}),
        (_l("Relationship"), {"fields": RELATIONSHIP_FIELDS}),
        (_l("Risk"), {"fields": RISK_FIELDS}),
        (_l("Service and consent"), {"fields": SERVICE_FIELDS}),
    ]
    add_columns = EDITABLE
    edit_columns = EDITABLE + ["expected_version"]
    add_form_extra_fields = _customer_form_fields()
    edit_form_extra_fields = {**_customer_form_fields(), "expected_version": HiddenField()}
    formatters_columns = {
        "customer_type": choice_label(c.CUSTOMER_TYPES),
        "gender": choice_label(c.GENDERS),
        "id_type": choice_label(c.ID_TYPES),
        "risk_tolerance": choice_label(c.RISK_TOLERANCES),
        "status": choice_label(c.CUSTOMER_STATUSES),
        "created_at": local_time,
        "updated_at": local_time,
    }
    show_template = "customers/show_360.html"

    def prefill_form(self, form, pk):
        item = self.datamodel.get(pk)
        if item is not None:
            form.expected_version.data = item.version

    def pre_add(self, item):
        user = self.appbuilder.sm.current_user
        if item.owner is None and scopes.current().kind == "own":
            item.owner = user
        if item.branch is None and getattr(user, "branch", None) is not None:
            item.branch = user.branch
        item.customer_no = rules.next_customer_no()
        item.custom_fields = item.custom_fields or {}
        rules.validate_customer(item)
        super().pre_add(item)

    def pre_update(self, item):
        expected = getattr(item, "expected_version", None)
        if expected not in (None, "") and int(expected) != item.version:
            raise ValueError(_l("Someone else changed this customer meanwhile; reload and "
                                "apply your change again."))
        rules.validate_customer(item)
        super().pre_update(item)

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        customer = self.datamodel.get(pk)
        if customer is None:
            abort(404)
        widgets = self._show(pk)
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            related_views=[],
            customer=customer,
            **customer_360(customer.id),
        )


def customer_360(customer_id: int) -> dict:
    """Everything the 360 page shows beside the profile, each as one bounded query."""
    accounts = db.session.scalars(
        select(Account).where(Account.customer_id == customer_id).order_by(Account.opened_on)
    ).all()
    assets = sum(
        (a.balance for a in accounts if a.status == "open" and a.product.category != "loan"),
        Decimal("0"),
    )
    transactions = db.session.scalars(
        select(Transaction).where(Transaction.customer_id == customer_id)
        .order_by(Transaction.occurred_at.desc()).limit(20)
    ).all()
    interactions = db.session.scalars(
        select(Interaction).where(Interaction.customer_id == customer_id)
        .order_by(Interaction.occurred_at.desc()).limit(20)
    ).all()
    follow_ups = db.session.scalars(
        select(FollowUp).where(FollowUp.customer_id == customer_id, FollowUp.status == "open")
        .order_by(FollowUp.due_at)
    ).all()
    return dict(accounts=accounts, total_assets=assets, transactions=transactions,
                interactions=interactions, follow_ups=follow_ups, money=money,
                local_time=local_time, choices=c)


class AccountView(CrmModelView):
    """Accounts (holdings) of customers in scope."""

    datamodel = SQLAInterface(Account)
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
        "status": _select(_l("Status"), c.ACCOUNT_STATUSES),
    }
    edit_form_extra_fields = {"status": _select(_l("Status"), c.ACCOUNT_STATUSES)}
    formatters_columns = {"balance": money, "status": choice_label(c.ACCOUNT_STATUSES)}
    validators_columns = {
        "balance": [NumberRange(min=0, message=_l("Balance cannot be negative."))],
    }
    base_order = ("account_no", "asc")


class TransactionView(CrmModelView):
    """Transactions of customers in scope; read-only (they come from the core system)."""

    datamodel = SQLAInterface(Transaction)
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
