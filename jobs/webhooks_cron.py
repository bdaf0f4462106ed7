"""RQ cron configuration for webhooks: ``rq cron jobs.webhooks_cron --url $REDIS_URL``.

Every minute: sends deliveries whose retry is due, and deliveries whose start was lost (Redis
refused the send job, or the worker died before starting it). Running it more often than needed
costs one query.
"""
import os

from rq import cron

from jobs.webhooks import scheduled_sweep

QUEUE = os.environ.get("CRM_QUEUE_NAME", "crm")

cron.register(scheduled_sweep, queue_name=QUEUE, cron="* * * * *", name="crm-webhooks")
