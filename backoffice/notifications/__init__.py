"""In-app notifications for staff: the bell, the "My notifications" page, the daily digest.

Other rooms raise notifications with :func:`notify` (rows added to their own session) and
declare new kinds with :func:`declare`::

    from backoffice.notifications import notify
    notify(session, [assignee_id], "task_assigned",
           _l("Task assigned to you: %(title)s", title=task.title),
           link=url, entity="FollowUp", entity_id=task.id, customer_id=task.customer_id,
           actor_id=user.id)
"""
from __future__ import annotations

from backoffice.notifications.kinds import declare
from backoffice.notifications.service import notify

__all__ = ["declare", "notify", "register"]


def register(appbuilder) -> None:
    """The page, the settings screen and the bell."""
    from backoffice.notifications import views

    views.register(appbuilder)
