"""REST API for customers, accounts and transactions (FAB ModelRestApi, JWT or session login).

Scopes apply below the API, on the session, exactly as for the screens; writes run the same
customer rules as the forms. A PUT answers for the fields it carries and nothing else
(``backoffice.fields.api``): each is asked of the policy, the rules they take part in are
checked, and stored values it did not carry are neither re-checked nor re-sealed. A change that
moves a customer to a branch outside the writer's scope, checkers included, is filed for a
checker whose scope covers it (202), like a maker's reviewed change.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, validate

from backoffice.customers import rules
from backoffice.customers.labels import (
    ACCOUNT_LABELS,
    CUSTOMER_LABELS,
    TRANSACTION_LABELS,
)
from backoffice.datamodel import CrmInterface
from backoffice.fields.api import CustomFieldsApiMixin
from backoffice.review.gate import accepted_for_review, review_gate
from backoffice.security.encrypted_fields import EncryptedSchemaConverter
from backoffice.views_base import CrmModelApi, OutOfScope
from models import Account, Customer, Transaction
from models import choices as c
from models import validators as v


def _one_of(mapping):
    return validate.OneOf(list(mapping))


def _validator(check):
    def _run(value):
        if value:
            message = check(value)
            if message:
                raise ValidationError(str(message))

    return _run


CUSTOMER_WRITE = [
    "name", "customer_type", "gender", "birth_date", "id_type", "id_number", "mobile", "email",
    "address", "occupation", "risk_tolerance", "risk_assessed_on", "consent_sms",
    "consent_email", "consent_phone", "consent_wechat", "flag_elderly", "flag_disability",
    "flag_vip", "service_notes", "branch", "owner", "teller", "onboarded_on", "status",
]


class CustomerApi(CustomFieldsApiMixin, CrmModelApi):
    """``/api/v1/customer/``: customers in the caller's scope, with the custom fields their
    role sees (``custom_fields``)."""

    custom_field_entity = "customer"
    resource_name = "customer"
    datamodel = CrmInterface(Customer)
    model2schemaconverter = EncryptedSchemaConverter  # encrypted fields load and dump as text
    class_permission_name = "Customer"
    label_columns = CUSTOMER_LABELS
    list_columns = ["id", "customer_no", "name", "customer_type", "branch.id", "branch.name",
                    "owner.id", "owner.username", "risk_tolerance", "status", "version",
                    "custom_fields"]
    show_columns = ["id", "customer_no", *CUSTOMER_WRITE[:-5], "branch.id", "branch.name",
                    "owner.id", "owner.username", "teller.id", "onboarded_on", "status",
                    "closed_on", "version", "created_at", "updated_at", "custom_fields"]
    add_columns = CUSTOMER_WRITE + ["custom_fields"]
    edit_columns = CUSTOMER_WRITE + ["custom_fields"]
    search_columns = ["customer_no", "name", "branch", "owner", "status", "customer_type",
                      "id_number", "mobile"]  # exact match only, through the blind index
    order_columns = ["customer_no", "name", "status", "onboarded_on"]
    validators_columns = {
        "customer_type": _one_of(c.CUSTOMER_TYPES),
        "gender": _one_of(c.GENDERS),
        "id_type": _one_of(c.ID_TYPES),
        "mobile": _validator(v.check_mobile),
        "risk_tolerance": _one_of(c.RISK_TOLERANCES),
        "status": _one_of(c.CUSTOMER_STATUSES),
    }

    def pre_add(self, item):
        item.customer_no = rules.next_customer_no()
        item.custom_fields = item.custom_fields or {}
        if item.owner is None and self.appbuilder.sm.current_user is not None:
            from backoffice.security import scopes

            if scopes.current().kind == "own":
                item.owner = self.appbuilder.sm.current_user
        rules.validate_customer(item)
        super().pre_add(item)
        review_gate(item)  # maker-checker: a maker's new customer becomes a change request

    def pre_update(self, item):
        rules.validate_changes(item, self.carried_fields())
        try:
            super().pre_update(item)  # the policy on what it carries, custom values, the scope
        except OutOfScope:
            review_gate(item)  # a move out of the writer's scope waits for a checker covering it
            raise
        review_gate(item)  # maker-checker: a maker's change to reviewed fields waits for review

    def post_headless(self):
        """A maker's write that became a change request answers 202 with the request id."""
        return accepted_for_review(super().post_headless)

    def put_headless(self, pk):
        return accepted_for_review(lambda: super(CustomerApi, self).put_headless(pk))


class AccountApi(CustomFieldsApiMixin, CrmModelApi):
    """``/api/v1/account/``: accounts of customers in scope."""

    custom_field_entity = "account"
    resource_name = "account"
    datamodel = CrmInterface(Account)
    model2schemaconverter = EncryptedSchemaConverter
    class_permission_name = "Account"
    label_columns = ACCOUNT_LABELS
    list_columns = ["id", "account_no", "customer.id", "customer.customer_no", "product.id",
                    "product.name", "balance", "currency", "status", "opened_on",
                    "custom_fields"]
    show_columns = list_columns + ["closed_on"]
    add_columns = ["customer", "account_no", "product", "balance", "currency", "opened_on",
                   "status", "custom_fields"]
    edit_columns = ["product", "balance", "opened_on", "closed_on", "status", "custom_fields"]
    search_columns = ["account_no", "customer", "product", "status"]
    validators_columns = {
        "balance": validate.Range(min=0, error=_l("Balance cannot be negative.")),
        "status": _one_of(c.ACCOUNT_STATUSES),
    }


class TransactionApi(CrmModelApi):
    """``/api/v1/transaction/``: read-only transactions of customers in scope."""

    resource_name = "transaction"
    datamodel = CrmInterface(Transaction)
    model2schemaconverter = EncryptedSchemaConverter
    class_permission_name = "Transaction"
    include_route_methods = {"get", "get_list", "info"}
    label_columns = TRANSACTION_LABELS
    list_columns = ["id", "occurred_at", "customer.id", "customer.customer_no", "account.id",
                    "account.account_no", "direction", "amount", "type", "channel"]
    show_columns = list_columns + ["counterparty", "description"]
    search_columns = ["customer", "account", "occurred_at", "direction", "type", "channel"]
    order_columns = ["occurred_at", "amount"]
    base_order = ("occurred_at", "desc")
