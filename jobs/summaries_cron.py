"""RQ cron configuration for the dashboard figures: ``rq cron jobs.summaries_cron --url ...``.

Nightly at 02:30 (the scheduler machine's local time: run it with ``TZ=Asia/Shanghai``), after
the tier refresh, so the figures count the night's tiers.
"""
import os

from rq import cron

from jobs.summaries import scheduled_refresh

QUEUE = os.environ.get("CRM_QUEUE_NAME", "crm")

cron.register(scheduled_refresh, queue_name=QUEUE, cron="30 2 * * *", name="crm-dashboard-figures")
