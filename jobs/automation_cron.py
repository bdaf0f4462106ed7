"""RQ cron configuration for automation rules: ``rq cron jobs.automation_cron --url $REDIS_URL``.

Every minute: scheduled rules whose slot has come are started (each slot once) and queued rule
messages are sent (quiet hours deferred). Run ``rq cron`` with ``TZ=Asia/Shanghai``.
"""
import os

from rq import cron

from jobs.automation import scheduled_tick

QUEUE = os.environ.get("CRM_QUEUE_NAME", "crm")

cron.register(scheduled_tick, queue_name=QUEUE, cron="* * * * *", name="crm-automation")
