"""REST API for interactions and follow-up tasks, under the same scopes as the screens."""
from __future__ import annotations

from flask import current_app
from marshmallow import validate

from backoffice.datamodel import CrmInterface
from backoffice.fields.api import CustomFieldsApiMixin
from backoffice.interactions import titles
from backoffice.interactions.labels import FOLLOW_UP_LABELS, INTERACTION_LABELS
from backoffice.service import sla
from backoffice.views_base import CrmModelApi
from models import FollowUp, Interaction
from models import choices as c
from models.base import utcnow


class InteractionApi(CustomFieldsApiMixin, CrmModelApi):
    """``/api/v1/interaction/`` (with the custom fields the caller's role sees)."""

    custom_field_entity = "interaction"
    resource_name = "interaction"
    datamodel = CrmInterface(Interaction)
    class_permission_name = "Interaction"
    label_columns = INTERACTION_LABELS
    list_columns = ["id", "occurred_at", "customer.id", "customer.customer_no", "staff.id",
                    "channel", "direction", "topic", "summary", "satisfaction", "complaint",
                    "custom_fields"]
    show_columns = list_columns
    add_columns = ["customer", "channel", "direction", "topic", "summary", "satisfaction",
                   "complaint", "custom_fields"]
    edit_columns = ["channel", "direction", "topic", "summary", "satisfaction", "complaint",
                    "custom_fields"]
    search_columns = ["customer", "channel", "topic", "complaint", "occurred_at"]
    order_columns = ["occurred_at"]
    base_order = ("occurred_at", "desc")
    validators_columns = {
        "channel": validate.OneOf(list(c.INTERACTION_CHANNELS)),
        "direction": validate.OneOf(list(c.INTERACTION_DIRECTIONS)),
        "topic": validate.OneOf(list(c.INTERACTION_TOPICS)),
        "satisfaction": validate.Range(min=1, max=5),
    }

    def pre_add(self, item):
        item.staff = self.appbuilder.sm.current_user
        item.occurred_at = item.occurred_at or utcnow()
        item.custom_fields = item.custom_fields or {}
        super().pre_add(item)


class FollowUpApi(CrmModelApi):
    """``/api/v1/followup/``."""

    resource_name = "followup"
    datamodel = CrmInterface(FollowUp)
    class_permission_name = "FollowUp"
    label_columns = FOLLOW_UP_LABELS
    list_columns = ["id", "title", "customer.id", "customer.customer_no", "assignee.id",
                    "task_type", "due_at", "status", "source"]
    show_columns = list_columns + ["notes", "created_at", "completed_at"]
    add_columns = ["customer", "title", "task_type", "due_at", "assignee", "notes"]
    edit_columns = ["title", "task_type", "due_at", "assignee", "status", "notes"]
    search_columns = ["customer", "assignee", "status", "task_type", "due_at"]
    order_columns = ["due_at", "created_at"]
    base_order = ("due_at", "asc")
    validators_columns = {
        "task_type": validate.OneOf(list(c.TASK_TYPES)),
        "status": validate.OneOf(list(c.TASK_STATUSES)),
    }

    def _init_model_schemas(self) -> None:
        """``due_at`` may be left out on create: the task type's SLA then sets it."""
        super()._init_model_schemas()
        due = self.add_model_schema.fields.get("due_at")
        if due is not None:
            due.required, due.allow_none = False, True

    def pre_add(self, item):
        if item.assignee is None:
            item.assignee = self.appbuilder.sm.current_user
        item.status = item.status or "open"
        if item.due_at is None:
            item.due_at = sla.default_due(item.task_type, current_app.config)
        super().pre_add(item)

    def pre_update(self, item):
        titles.keep_or_type(item)  # a system title the client changed is typed from now on
        super().pre_update(item)

    def pre_get(self, data):
        """A system title in the reader's language (then masked as the screens mask)."""
        shown = titles.titles_by_id(self.datamodel.session, [data.get("id")])
        if data.get("id") in shown and "title" in data.get("result", {}):
            data["result"]["title"] = shown[data["id"]]
        super().pre_get(data)

    def pre_get_list(self, data):
        shown = titles.titles_by_id(self.datamodel.session, data.get("ids") or [])
        for record_id, row in zip(data.get("ids") or [], data.get("result") or []):
            if record_id in shown and "title" in row:
                row["title"] = shown[record_id]
        super().pre_get_list(data)
