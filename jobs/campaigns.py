"""Campaign jobs: the launch (gate, control split, targets, tasks, messages), the sending of
the messages, and conversion detection.

Thin: they take ids, call the campaign use cases (``backoffice.campaigns``) and report. Sending
is safe to run any number of times and from several workers at once (the send ledger,
``backoffice.campaigns.messages``): the launch sends right away, and ``flask crm campaign send``
(from cron, like the greetings) enqueues :func:`send_messages` for the retries and for messages
whose campaign starts later.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from backoffice.extensions import db


def launch(campaign_id: int, *, progress) -> dict:
    """Approved → running for one campaign, then its first sending round; the result holds
    the gate report and what was sent."""
    from backoffice.campaigns.service import launch as launch_campaign
    from backoffice.segments.catalog import rule_fields

    progress.update(0, total=1, message=_l("Launching the campaign"))
    report = launch_campaign(int(campaign_id), rule_fields(session=db.session))
    progress.update(1, total=1, message=_l("The campaign is running"))
    if report.get("messages"):
        report["sending"] = send_messages(campaign_id, progress=progress)
    return report


def send_messages(campaign_id: int, *, progress) -> dict:
    """Send the campaign's due SMS, e-mail and WeChat messages through the real channels."""
    from backoffice.campaigns.messages import send_campaign

    progress.update(0, message=_l("Sending campaign messages"))
    return send_campaign(db.session, current_app.config, int(campaign_id), progress=progress)


def detect_conversions(campaign_id: int, *, progress) -> dict:
    """Mark targets (both groups) who bought the product within the window as converted."""
    from backoffice.campaigns.service import detect_conversions as detect

    progress.update(0, total=1, message=_l("Detecting conversions"))
    found = detect(int(campaign_id))
    progress.update(1, total=1, message=_l("Conversions detected"))
    return {"converted": found}
