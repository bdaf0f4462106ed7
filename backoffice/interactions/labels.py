"""Column labels of the interaction and follow-up screens and APIs."""
from flask_babel import lazy_gettext as _l

INTERACTION_LABELS = {
    "customer": _l("Customer"),
    "staff": _l("Staff"),
    "occurred_at": _l("Time"),
    "channel": _l("Channel"),
    "direction": _l("Direction"),
    "topic": _l("Topic"),
    "summary": _l("Summary"),
    "satisfaction": _l("Satisfaction"),
    "complaint": _l("Complaint"),
}
FOLLOW_UP_LABELS = {
    "customer": _l("Customer"),
    "assignee": _l("Assignee"),
    "title": _l("Title"),
    "task_type": _l("Task type"),
    "due_at": _l("Due"),
    "status": _l("Status"),
    "source": _l("Source"),
    "notes": _l("Notes"),
    "created_at": _l("Created at"),
    "completed_at": _l("Completed at"),
    "interaction": _l("Interaction"),
}
