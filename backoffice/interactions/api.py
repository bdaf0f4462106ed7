"""REST API for interactions and follow-up tasks, under the same scopes as the screens."""
from __future__ import annotations

from marshmallow import validate

from backoffice.datamodel import CrmInterface
from backoffice.interactions.labels import FOLLOW_UP_LABELS, INTERACTION_LABELS
from backoffice.views_base import CrmModelApi
from models import FollowUp, Interaction
from models import choices as c
from models.base import utcnow


class InteractionApi(CrmModelApi):
    """``/api/v1/interaction/``."""

    resource_name = "interaction"
    datamodel = CrmInterface(Interaction)
    class_permission_name = "Interaction"
    label_columns = INTERACTION_LABELS
    list_columns = ["id", "occurred_at", "customer.id", "customer.customer_no", "staff.id",
                    "channel", "direction", "topic", "summary", "satisfaction", "complaint"]
    show_columns = list_columns
    add_columns = ["customer", "channel", "direction", "topic", "summary", "satisfaction",
                   "complaint"]
    edit_columns = ["channel", "direction", "topic", "summary", "satisfaction", "complaint"]
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

    def pre_add(self, item):
        if item.assignee is None:
            item.assignee = self.appbuilder.sm.current_user
        item.status = item.status or "open"
        super().pre_add(item)
