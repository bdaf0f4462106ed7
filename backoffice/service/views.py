"""Screens: complaints, loan applications, consent statements and service flags.

State changes go through the use cases (``complaints``, ``loans``, ``consent``) as list/show
actions, so a screen can never skip a step, a time stamp, a notice or the consent snapshot.
"""
from __future__ import annotations

from flask import current_app, flash, redirect, request
from flask_appbuilder.actions import action
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional

from backoffice.customers.refs import CustomerRefField
from backoffice.datamodel import CrmInterface
from backoffice.extensions import db
from backoffice.formatting import choice_label, local_time, money
from backoffice.messaging import consent
from backoffice.messaging import registry as message_channels
from backoffice.service import complaints, loans
from backoffice.views_base import (
    VIEW_METHOD_PERMISSIONS,
    CrmModelView,
    checkboxes,
    choice_select,
    selected_items,
)
from config import roles as r
from models.complaints import Complaint, CustomerServiceFlag, ServiceFlagType
from models.consent import CONSENT_CHANNELS as consent_channels
from models.consent import Consent
from models.loans import LoanApplication

COMPLAINT_STATUSES = {"open": lazy_pgettext("complaint status", "Open"), "assigned": _l("Assigned"),
                      "resolved": _l("Resolved"), "rechecked": _l("Satisfaction re-checked")}
LOAN_STATUSES = {"submitted": _l("Submitted"), "under_review": _l("Under review"),
                 "approved": _l("Approved"), "rejected": _l("Rejected"),
                 "disbursed": _l("Disbursed")}
CONSENT_CHANNELS = message_channels.labels(consent_channels)
PURPOSES = {"marketing": _l("Marketing"), "greeting": _l("Greetings"), "service": _l("Service")}
LABELS = {
    "customer": _l("Customer"), "category": _l("Category"), "summary": _l("Summary"),
    "status": _l("Status"), "assignee": _l("Assignee"), "resolution": _l("Resolution"),
    "recheck_satisfaction": _l("Re-check satisfaction"), "recheck_notes": _l("Re-check notes"),
    "opened_at": _l("Opened at"), "assigned_at": _l("Assigned at"),
    "resolved_at": _l("Resolved at"), "rechecked_at": _l("Re-checked at"),
    "application_no": _l("Application number"), "amount": _l("Amount"),
    "term_months": _l("Term (months)"), "purpose": _l("Purpose"), "officer": _l("Officer"),
    "notes": _l("Notes"), "submitted_at": _l("Submitted at"),
    "status_changed_at": _l("Status changed at"), "channel": _l("Channel"),
    "granted": _l("Granted"), "source": _l("Source"), "recorded_at": _l("Recorded at"),
    "withdrawn_at": _l("Closed at"), "flag_type": _l("Flag"), "note": _l("Service note"),
    "code": _l("Code"), "label_zh": _l("Label (Chinese)"), "label_en": _l("Label (English)"),
    "active": lazy_pgettext("switched on", "Active"), "created_at": _l("Created at"),
}


def _writes(*names) -> dict:
    """Actions that change records need the entity's write permission, like editing."""
    return {**VIEW_METHOD_PERMISSIONS, **{name: "write" for name in names}}


def _back(view):
    return redirect(request.referrer or view.get_redirect())


def _apply(view, items, step):
    """Run a use case on each selected record; a refused step is a message, not a 500."""
    done = 0
    for item in selected_items(items):
        try:
            step(item)
            done += 1
        except ValueError as exc:
            db.session.rollback()
            flash(f"{item}: {exc}", "danger")
            return _back(view)
    db.session.commit()
    flash(_l("%(count)s record(s) updated.", count=done), "info")
    return _back(view)


class ComplaintView(CrmModelView):
    exportable = True
    datamodel = CrmInterface(Complaint)
    class_permission_name = "Complaint"
    route_base = "/service/complaints"
    method_permission_name = _writes("assign_to_me", "resolve", "recheck")
    list_title = _l("Complaints")
    label_columns = LABELS
    list_columns = ["opened_at", "customer", "category", "status", "assignee", "resolved_at"]
    show_columns = ["customer", "category", "summary", "status", "assignee", "opened_at",
                    "assigned_at", "resolved_at", "resolution", "rechecked_at",
                    "recheck_satisfaction", "recheck_notes"]
    add_columns = ["customer", "category", "summary"]
    edit_columns = ["summary", "resolution", "recheck_satisfaction", "recheck_notes"]
    search_columns = ["customer", "status", "opened_at"]
    customer_number_search = True
    base_order = ("opened_at", "desc")
    add_form_extra_fields = {"customer": CustomerRefField()}
    edit_form_extra_fields = {"recheck_satisfaction": IntegerField(
        _l("Re-check satisfaction"), validators=[Optional(), NumberRange(1, 5)])}
    formatters_columns = {"status": choice_label(COMPLAINT_STATUSES), "opened_at": local_time,
                          "assigned_at": local_time, "resolved_at": local_time,
                          "rechecked_at": local_time}

    def pre_add(self, item):
        user = self.appbuilder.sm.current_user
        item.status, item.opened_by = "open", user
        super().pre_add(item)

    @action("assign_to_me", _l("Assign to me"), None, "fa-user")
    def assign_to_me(self, items):
        user_id = self.appbuilder.sm.current_user.id
        return _apply(self, items, lambda c: complaints.assign(
            db.session, current_app.config, c, user_id))

    @action("resolve", _l("Mark resolved"), _l("Enter the resolution first (Edit)."),
            "fa-check")
    def resolve(self, items):
        return _apply(self, items, lambda c: complaints.resolve(db.session, c, c.resolution))

    @action("recheck", _l("Record satisfaction re-check"),
            _l("Enter the re-check satisfaction first (Edit)."), "fa-smile-o")
    def recheck(self, items):
        return _apply(self, items, lambda c: complaints.recheck(
            db.session, c, c.recheck_satisfaction, c.recheck_notes))


def _loan_step(action_name, status):
    def step(self, items):
        user_id = self.appbuilder.sm.current_user.id
        return _apply(self, items, lambda a: loans.change_status(
            db.session, current_app.config, a, status, staff_id=user_id))
    # FAB finds an action's permission by its function's name (method_permission_name).
    step.__name__ = step.__qualname__ = action_name
    return step


class LoanApplicationView(CrmModelView):
    exportable = True
    datamodel = CrmInterface(LoanApplication)
    class_permission_name = "LoanApplication"
    route_base = "/service/loans"
    method_permission_name = _writes("review", "approve", "reject", "disburse")
    list_title = _l("Loan applications")
    label_columns = LABELS
    list_columns = ["application_no", "customer", "amount", "status", "status_changed_at"]
    show_columns = ["application_no", "customer", "amount", "term_months", "purpose",
                    "status", "officer", "submitted_at", "status_changed_at", "notes"]
    add_columns = ["customer", "application_no", "amount", "term_months", "purpose", "notes"]
    edit_columns = ["term_months", "purpose", "notes"]
    search_columns = ["customer", "application_no", "status"]
    customer_number_search = True
    base_order = ("submitted_at", "desc")
    add_form_extra_fields = {"customer": CustomerRefField()}
    formatters_columns = {"status": choice_label(LOAN_STATUSES), "amount": money,
                          "submitted_at": local_time, "status_changed_at": local_time}

    def pre_add(self, item):
        if item.amount is None or item.amount <= 0:
            raise ValueError(_l("The amount must be greater than zero."))
        item.status, item.officer = "submitted", self.appbuilder.sm.current_user
        super().pre_add(item)

    review = action("review", _l("Start review"), None, "fa-search")(
        _loan_step("review", "under_review"))
    approve = action("approve", _l("Approve"), None, "fa-thumbs-up")(
        _loan_step("approve", "approved"))
    reject = action("reject", _l("Reject"), None, "fa-thumbs-down")(
        _loan_step("reject", "rejected"))
    disburse = action("disburse", _l("Disburse"), None, "fa-money")(
        _loan_step("disburse", "disbursed"))


class ConsentView(CrmModelView):
    """Consent statements; adding one goes through the consent use case (snapshot + log)."""

    exportable = True
    datamodel = CrmInterface(Consent)
    class_permission_name = "Consent"
    route_base = "/service/consents"
    method_permission_name = _writes("withdraw")
    list_title = _l("Consents")
    base_permissions = ["can_read", "can_write"]
    label_columns = LABELS
    list_columns = ["customer", "channel", "purpose", "granted", "source", "recorded_at",
                    "withdrawn_at"]
    show_columns = list_columns
    add_columns = ["customer", "channel", "purpose", "granted", "source"]
    search_columns = ["customer", "channel", "purpose", "granted"]
    customer_number_search = True
    base_order = ("recorded_at", "desc")
    add_form_extra_fields = {"customer": CustomerRefField(),
                             "channel": choice_select(_l("Channel"), CONSENT_CHANNELS),
                             "purpose": choice_select(_l("Purpose"), PURPOSES),
                             **checkboxes(LABELS, "granted")}
    formatters_columns = {"channel": choice_label(CONSENT_CHANNELS),
                          "purpose": choice_label(PURPOSES), "recorded_at": local_time,
                          "withdrawn_at": local_time}

    def pre_add(self, item):
        super().pre_add(item)  # scope check on the customer
        # The use case fills in this very object (closing the open statement first, keeping
        # the marketing snapshot, logging); FAB then saves it.
        consent.record_consent(item.customer, item.channel, item.purpose,
                               granted=bool(item.granted), source=item.source or "",
                               staff_id=self.appbuilder.sm.current_user.id, row=item)

    @action("withdraw", _l("Withdraw"), _l("Record that the customer withdraws this consent?"),
            "fa-ban")
    def withdraw(self, items):
        user_id = self.appbuilder.sm.current_user.id
        return _apply(self, items, lambda row: consent.withdraw_consent(
            row.customer, row.channel, row.purpose, source="back office", staff_id=user_id))


class CustomerServiceFlagView(CrmModelView):
    datamodel = CrmInterface(CustomerServiceFlag)
    class_permission_name = "CustomerServiceFlag"
    route_base = "/service/flags"
    list_title = _l("Service flags")
    label_columns = LABELS
    list_columns = ["customer", "flag_type", "note", "created_at"]
    add_columns = ["customer", "flag_type", "note"]
    edit_columns = ["flag_type", "note"]
    show_columns = list_columns
    search_columns = ["customer", "flag_type"]
    customer_number_search = True
    add_form_extra_fields = {"customer": CustomerRefField()}
    formatters_columns = {"created_at": local_time}


class ServiceFlagTypeView(CrmModelView):
    datamodel = CrmInterface(ServiceFlagType)
    class_permission_name = "ServiceFlagType"
    route_base = "/service/flag-types"
    list_title = _l("Service flag types")
    label_columns = LABELS
    list_columns = add_columns = edit_columns = show_columns = ["code", "label_zh", "label_en",
                                                                "active"]
    add_form_extra_fields = edit_form_extra_fields = checkboxes(LABELS, "active")


def register(appbuilder) -> None:
    category = dict(category=r.CATEGORY_SERVICE, category_label=_l("Service"),
                    category_icon="fa-comments")
    for view, menu, label, icon in (
            (ComplaintView, r.MENU_COMPLAINTS, _l("Complaints"), "fa-exclamation-circle"),
            (LoanApplicationView, r.MENU_LOANS, _l("Loan applications"), "fa-bank"),
            (ConsentView, r.MENU_CONSENTS, _l("Consents"), "fa-check-square-o"),
            (CustomerServiceFlagView, r.MENU_SERVICE_FLAGS, _l("Service flags"), "fa-flag"),
            (ServiceFlagTypeView, r.MENU_SERVICE_FLAG_TYPES, _l("Service flag types"),
             "fa-flag-o")):
        appbuilder.add_view(view, menu, label=label, icon=icon, **category)
