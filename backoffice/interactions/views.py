"""Screens for recording interactions and working follow-up tasks."""
from __future__ import annotations

from flask import current_app, flash, redirect, request
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterEqualFunction
from flask_babel import lazy_gettext as _l
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional

from backoffice.customers.refs import CustomerRefField
from backoffice.datamodel import CrmInterface
from backoffice.extensions import db
from backoffice.fields.screens import CustomFieldsViewMixin
from backoffice.formatting import choice_label, local_time, yes_no
from backoffice.pickers import LocalDateTimeField
from backoffice.interactions import titles
from backoffice.interactions.labels import FOLLOW_UP_LABELS, INTERACTION_LABELS
from backoffice.service import sla
from backoffice.views_base import CrmModelView, checkboxes, choice_select, selected_items
from models import FollowUp, Interaction
from models import choices as c
from models.base import utcnow


class InteractionView(CustomFieldsViewMixin, CrmModelView):
    """Interactions with customers in scope; staff record them from the 360 page."""

    custom_field_entity = "interaction"
    exportable = True
    datamodel = CrmInterface(Interaction)
    class_permission_name = "Interaction"
    route_base = "/interactions"
    list_title = _l("Interactions")
    show_title = _l("Interaction")
    add_title = _l("Record interaction")
    edit_title = _l("Edit interaction")
    label_columns = INTERACTION_LABELS
    list_columns = ["occurred_at", "customer", "channel", "topic", "satisfaction", "complaint",
                    "staff"]
    show_columns = ["occurred_at", "customer", "staff", "channel", "direction", "topic",
                    "summary", "satisfaction", "complaint"]
    add_columns = ["customer", "channel", "direction", "topic", "summary", "satisfaction",
                   "complaint"]
    edit_columns = ["channel", "direction", "topic", "summary", "satisfaction", "complaint"]
    search_columns = ["customer", "occurred_at", "channel", "topic", "complaint", "satisfaction"]
    customer_number_search = True
    base_order = ("occurred_at", "desc")
    add_form_extra_fields = {
        "customer": CustomerRefField(),
        "channel": choice_select(_l("Channel"), c.INTERACTION_CHANNELS),
        "direction": choice_select(_l("Direction"), c.INTERACTION_DIRECTIONS),
        "topic": choice_select(_l("Topic"), c.INTERACTION_TOPICS),
        "satisfaction": IntegerField(
            _l("Satisfaction"),
            validators=[Optional(), NumberRange(1, 5, message=_l("Satisfaction is 1 to 5."))],
        ),
        **checkboxes(INTERACTION_LABELS, "complaint"),
    }
    edit_form_extra_fields = {k: v for k, v in add_form_extra_fields.items() if k != "customer"}
    formatters_columns = {
        "occurred_at": local_time,
        "channel": choice_label(c.INTERACTION_CHANNELS),
        "direction": choice_label(c.INTERACTION_DIRECTIONS),
        "topic": choice_label(c.INTERACTION_TOPICS),
        "complaint": yes_no,
    }

    def pre_add(self, item):
        item.staff = self.appbuilder.sm.current_user
        item.occurred_at = utcnow()
        item.custom_fields = item.custom_fields or {}
        if item.topic == "complaint":
            item.complaint = True
        super().pre_add(item)


def _follow_up_fields(with_customer: bool) -> dict:
    fields = {
        "task_type": choice_select(_l("Task type"), c.TASK_TYPES),
        "status": choice_select(_l("Status"), c.TASK_STATUSES),
        # Left empty, the due time comes from the task type's SLA in Chinese working days; a
        # value the field cannot read is refused with a message, never replaced by the SLA.
        "due_at": LocalDateTimeField(_l("Due"), validators=[Optional()],
                                     description=_l("Leave empty to use the service level of "
                                                    "the task type (working days).")),
    }
    if with_customer:
        fields["customer"] = CustomerRefField()
    return fields


class FollowUpView(CrmModelView):
    """Follow-up tasks on customers in scope."""

    exportable = True
    datamodel = titles.FollowUpInterface(FollowUp)  # a system title in the reader's language
    class_permission_name = "FollowUp"
    route_base = "/followups"
    show_template = "comments/followup_show.html"  # FAB's page, then the task's comments
    list_title = _l("Follow-ups")
    show_title = _l("Follow-up")
    add_title = _l("Add follow-up")
    edit_title = _l("Edit follow-up")
    label_columns = FOLLOW_UP_LABELS
    list_columns = ["due_at", "title", "customer", "task_type", "assignee", "status"]
    show_columns = ["title", "customer", "task_type", "due_at", "assignee", "status", "source",
                    "notes", "created_at", "completed_at"]
    add_columns = ["customer", "title", "task_type", "due_at", "assignee", "notes"]
    edit_columns = ["title", "task_type", "due_at", "assignee", "status", "notes"]
    search_columns = ["customer", "assignee", "status", "task_type", "due_at"]
    customer_number_search = True
    staff_username_search = ("assignee",)
    base_order = ("due_at", "asc")
    add_form_extra_fields = _follow_up_fields(with_customer=True)
    edit_form_extra_fields = _follow_up_fields(with_customer=False)
    formatters_columns = {
        "due_at": local_time,
        "created_at": local_time,
        "completed_at": local_time,
        "task_type": choice_label(c.TASK_TYPES),
        "status": choice_label(c.TASK_STATUSES),
        "source": choice_label(c.TASK_SOURCES),
    }

    def pre_add(self, item):
        if item.assignee is None:
            item.assignee = self.appbuilder.sm.current_user
        item.status = "open"
        item.source = "manual"
        if item.due_at is None:
            item.due_at = sla.default_due(item.task_type, current_app.config)
        super().pre_add(item)

    def prefill_form(self, form, pk):
        titles.prefill(form, self.datamodel.get(pk))

    def pre_update(self, item):
        titles.keep_or_type(item)  # a system title a person changed is typed from now on
        if item.due_at is None:
            item.due_at = sla.default_due(item.task_type, current_app.config, item.created_at)
        if item.status == "done" and item.completed_at is None:
            item.completed_at = utcnow()
        super().pre_update(item)

    @action("mark_done", _l("Mark done"), _l("Mark the selected tasks done?"), "fa-check")
    def mark_done(self, items):
        """Close several tasks at once (items were loaded through the scoped session)."""
        items = selected_items(items)
        for item in items:
            if item.status == "open":
                item.status = "done"
                item.completed_at = utcnow()
        db.session.commit()
        flash(_l("%(count)s task(s) marked done.", count=len(items)), "info")
        return redirect(request.referrer or self.get_redirect())


def _current_user_id():
    from flask import current_app

    user = current_app.appbuilder.sm.current_user
    return user.id if user is not None else None


class MyTasksView(FollowUpView):
    """The signed-in user's open tasks, overdue first (ascending due time puts them on top)."""

    route_base = "/mytasks"
    list_title = _l("My tasks")
    base_filters = [
        ["assignee_id", FilterEqualFunction, _current_user_id],
        ["status", FilterEqual, "open"],
    ]
    search_columns = ["customer", "task_type", "due_at"]
    staff_username_search = ()
