"""Customer screens: list, search, add/edit with validation, and the customer 360 page."""
from __future__ import annotations

from flask import abort, make_response, request
from flask_appbuilder import expose, has_access
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from backoffice.customers import panels, reveal, rules
from backoffice.customers import tabs as customer_tabs
from backoffice.customers.forms import (
    Amount,
    MainlandMobile,
    PrcIdNumber,
    SensitiveField,
    keep_if_blank,
)
from backoffice.customers.labels import (
    CUSTOMER_LABELS,
)
from backoffice.datamodel import CrmInterface
from backoffice.errors import WriteRefused
from backoffice.fields.screens import CustomFieldsViewMixin
from backoffice.formatting import choice_label, local_time, yes_no
from backoffice.review.gate import redirect_after_submission, review_gate
from backoffice.security import scopes
from backoffice.security.policy import current_viewer, may_see_deep_profile
from backoffice.search_widget import CachedSearchWidget
from backoffice.security.presentation import present
from backoffice.views_base import (VIEW_METHOD_PERMISSIONS, CrmModelView, OutOfScope,
                                   checkboxes, choice_select)
from models import Customer
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
DEEP_PROFILE_FIELDS = ["annual_income", "family_notes", "investment_notes"]
EDITABLE = [f for f in PROFILE_FIELDS if f != "customer_no"] + RISK_FIELDS + SERVICE_FIELDS + [
    "branch", "owner", "teller", "onboarded_on", "status",
]


def _sensitive_fields(editing: bool) -> dict:
    """Form fields of the encrypted values: plain inputs to add, never-prefilled ones to edit."""
    keep = _l("Leave empty to keep the current value.")
    if editing:
        def field(label, *checks, **kwargs):
            return SensitiveField(label, validators=[keep_if_blank, *checks], description=keep,
                                  **kwargs)
    else:
        def field(label, *checks, required=False, **kwargs):
            first = DataRequired() if required else Optional()
            return StringField(label, validators=[first, *checks], widget=BS3TextFieldWidget(),
                               **kwargs)
    fields = {
        "id_number": field(_l("ID number"), PrcIdNumber(), **({} if editing else
                                                                {"required": True})),
        "mobile": field(_l("Mobile"), MainlandMobile()),
        "email": field(_l("Email"), Email()),
        "address": field(_l("Address"), Length(max=255)),
    }
    if editing:  # the deep profile is entered on the edit form, by those who may see it
        fields.update({
            "annual_income": field(_l("Annual income"), Amount()),
            "family_notes": field(_l("Family notes"), Length(max=2000)),
            "investment_notes": field(_l("Investment notes"), Length(max=2000)),
        })
    return fields


def _customer_form_fields(editing: bool = False) -> dict:
    return {
        "customer_type": choice_select(_l("Customer type"), c.CUSTOMER_TYPES),
        "gender": choice_select(_l("Gender"), c.GENDERS, required=False),
        "id_type": choice_select(_l("ID type"), c.ID_TYPES),
        **_sensitive_fields(editing),
        "risk_tolerance": choice_select(_l("Risk tolerance"), c.RISK_TOLERANCES, required=False),
        "status": choice_select(_l("Status"), c.CUSTOMER_STATUSES),
        **checkboxes(CUSTOMER_LABELS, *[f for f in SERVICE_FIELDS if f != "service_notes"]),
    }


class CustomerView(CustomFieldsViewMixin, CrmModelView):
    """Customers in the user's scope; the show page is the customer 360 view (custom fields in
    their sections, masked and withheld per role like the built-in ones)."""

    custom_field_entity = "customer"
    method_permission_name = {**VIEW_METHOD_PERMISSIONS, "tab": "read"}
    exportable = True
    datamodel = CrmInterface(Customer)
    class_permission_name = "Customer"
    route_base = "/customers"
    list_title = _l("Customers")
    show_title = _l("Customer 360")
    add_title = _l("Add customer")
    edit_title = _l("Edit customer")
    label_columns = CUSTOMER_LABELS
    list_columns = ["customer_no", "name", "customer_type", "branch", "owner",
                    "risk_tolerance", "status"]
    search_columns = ["customer_no", "name", "branch", "owner", "status",
                      "id_number", "mobile",  # exact match only, through the blind index
                      "tier", "onboarded_on", "closed_on"]  # dashboard click-throughs
    staff_username_search = ("owner",)
    order_columns = ["customer_no", "name", "status"]
    base_order = ("customer_no", "asc")
    show_fieldsets = [
        (_l("Profile"), {"fields": PROFILE_FIELDS}),
        (_l("Relationship"), {"fields": RELATIONSHIP_FIELDS}),
        (_l("Risk"), {"fields": RISK_FIELDS}),
        (_l("Service and consent"), {"fields": SERVICE_FIELDS}),
        (_l("Deep profile"), {"fields": DEEP_PROFILE_FIELDS}),
    ]
    add_columns = EDITABLE
    edit_columns = EDITABLE + DEEP_PROFILE_FIELDS + ["expected_version"]
    add_form_extra_fields = _customer_form_fields()
    edit_form_extra_fields = {**_customer_form_fields(editing=True),
                              "expected_version": HiddenField()}
    formatters_columns = {
        "customer_type": choice_label(c.CUSTOMER_TYPES),
        "gender": choice_label(c.GENDERS),
        "id_type": choice_label(c.ID_TYPES),
        "risk_tolerance": choice_label(c.RISK_TOLERANCES),
        "status": choice_label(c.CUSTOMER_STATUSES),
        "created_at": local_time,
        "updated_at": local_time,
        **{name: yes_no for name in SERVICE_FIELDS if name != "service_notes"},
    }
    show_template = "customers/show_360.html"
    search_widget = CachedSearchWidget  # its inputs: text, dates, the cached branch select

    def prefill_form(self, form, pk):
        super().prefill_form(form, pk)  # custom fields' current values
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
        review_gate(item)  # maker-checker: a maker's new customer becomes a change request

    def post_add_redirect(self):
        return redirect_after_submission() or super().post_add_redirect()

    def post_edit_redirect(self):
        return redirect_after_submission() or super().post_edit_redirect()

    def pre_update(self, item):
        if not may_see_deep_profile(item) and any(request.form.get(f)
                                                  for f in DEEP_PROFILE_FIELDS):
            raise WriteRefused({"annual_income": _l(
                "You may not change the deep profile of this customer.")})
        expected = getattr(item, "expected_version", None)
        if expected not in (None, "") and int(expected) != item.version:
            raise ValueError(_l("Someone else changed this customer meanwhile; reload and "
                                "apply your change again."))
        rules.validate_customer(item)
        try:
            super().pre_update(item)
        except OutOfScope:
            # A move to a branch outside the writer's scope: filed, with the form's custom
            # values, for a checker whose scope covers it (else the refusal stands).
            self._store_custom(item, new=False)
            review_gate(item)
            raise
        review_gate(item)  # maker-checker: a maker's change to reviewed fields waits for review

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """The 360 page: the header and the first tab; the other tabs load when opened."""
        customer = self.datamodel.get(pk, self._base_filters, eager=("branch", "owner", "teller"))
        if customer is None:
            abort(404)
        viewer = current_viewer()
        tabs = panels.tabs_for(customer, viewer)
        first = tabs[0] if tabs else None
        first_html = panels.render_tab(first, customer, viewer,
                                       **self._profile_context(pk, customer)) if first else ""
        self.update_redirect()
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            customer=customer,
            tabs=tabs,
            first_tab=first,
            first_tab_html=first_html,
            header_panels=panels.render_panels(panels.HEADER, customer, viewer),
            actions=panels.actions_for(customer, viewer),
            figures=customer_tabs.header_figures(customer),
            can_reveal=panels.endpoint_allowed("CustomerView.reveal", viewer),
            revealable=reveal.revealable_fields(customer),
            field_labels=reveal.field_labels(customer, self.label_columns),
            present=present, choices=c,
        )

    @expose("/show/<pk>/tab/<string:tab>", methods=["GET"])
    @has_access
    def tab(self, pk, tab):
        """One tab of the 360 page (an HTML fragment), for a viewer who may open it."""
        customer = self.datamodel.get(pk, self._base_filters)
        if customer is None:
            abort(404)
        viewer = current_viewer()
        chosen = panels.tab_for(tab, customer, viewer)
        if chosen is None:
            abort(404)
        extra = self._profile_context(pk, customer) if chosen.key == customer_tabs.PROFILE \
            else {}
        response = make_response(panels.render_tab(chosen, customer, viewer, **extra))
        response.headers["Cache-Control"] = "no-store"
        return response

    def _profile_context(self, pk, customer) -> dict:
        """FAB's show widget of the record, without the deep-profile section for a viewer who
        may not see it (rather than a section of withheld values)."""
        fieldsets = self.show_fieldsets
        if not may_see_deep_profile(customer):
            fieldsets = [fs for fs in fieldsets if fs[1].get("fields") != DEEP_PROFILE_FIELDS]
        # FAB's ``_show`` would read the customer a second time; this page has no related views.
        widgets = self._get_show_widget(pk, customer, show_fieldsets=fieldsets)
        return {"widgets": widgets}


    @expose("/reveal/<pk>/<string:field>", methods=["GET", "POST"])
    @has_access
    def reveal(self, pk, field):
        """Show one sensitive value in full after the user states a reason (logged)."""
        customer = self.datamodel.get(pk)
        if customer is None or not reveal.may_reveal(customer, field):
            abort(404)
        form = reveal.RevealForm()
        value = None
        if form.validate_on_submit():
            value = reveal.value_of(customer, field)
            reveal.log_reveal(customer, field, form.reason.data.strip())
        page = self.render_template(
            "customers/reveal.html", customer=customer, field=field, form=form, value=value,
            field_label=reveal.field_label(field, self.label_columns),
            masked_value=reveal.masked(customer, field))
        response = make_response(page)
        response.headers["Cache-Control"] = "no-store"
        return response
