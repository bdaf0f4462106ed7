"""RQ cron configuration for the greetings: ``rq cron jobs.greetings_cron --url $REDIS_URL``.

Hourly, at any minute: each run selects today's occasions (already-selected customers are
skipped by the dispatch ledger), sends deferred SMS once quiet hours end at 08:00, and retries
failed sends whose backoff has passed. Running it more often than needed costs a few queries.
Cron times are the scheduler machine's local time: run ``rq cron`` with ``TZ=Asia/Shanghai``.
"""
import os

from rq import cron

from jobs.greetings import scheduled_run
from jobs.reminders import scheduled_reminders
from jobs.notifications import scheduled_digests

QUEUE = os.environ.get("CRM_QUEUE_NAME", "crm")

cron.register(scheduled_run, queue_name=QUEUE, cron="5 * * * *", name="crm-greetings")
cron.register(scheduled_reminders, queue_name=QUEUE, cron="30 8 * * *",
              name="crm-daily-reminders")
# Staff notification digests (jobs.notifications): hourly, each member's at their chosen hour.
cron.register(scheduled_digests, queue_name=QUEUE, cron="15 * * * *",
              name="crm-notification-digests")
