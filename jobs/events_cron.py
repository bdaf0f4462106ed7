"""RQ cron configuration for the event outbox: ``rq cron jobs.events_cron --url $REDIS_URL``.

Every minute, a safety net under the kick each request or job gives after it published: a kick
lost to a Redis hiccup, or events left by a killed worker, are handled within a minute.
"""
import os

from rq import cron

from jobs.events import scheduled_dispatch

QUEUE = os.environ.get("CRM_QUEUE_NAME", "crm")

cron.register(scheduled_dispatch, queue_name=QUEUE, cron="* * * * *", name="crm-events")
