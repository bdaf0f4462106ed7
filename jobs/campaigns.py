"""Campaign jobs: the launch (gate, control split, targets, tasks) and conversion detection.

Thin: they take ids, call the campaign use cases (``backoffice.campaigns.service``) and report.
"""
from __future__ import annotations

from backoffice.extensions import db


def launch(campaign_id: int, *, progress) -> dict:
    """Approved → running for one campaign; the result holds the gate report."""
    from backoffice.campaigns.service import launch as launch_campaign
    from backoffice.segments.catalog import rule_fields

    progress.update(0, total=1, message="launching campaign")
    report = launch_campaign(int(campaign_id), rule_fields(session=db.session))
    progress.update(1, total=1, message="campaign running")
    return report


def detect_conversions(campaign_id: int, *, progress) -> dict:
    """Mark targets (both groups) who bought the product within the window as converted."""
    from backoffice.campaigns.service import detect_conversions as detect

    progress.update(0, total=1, message="detecting conversions")
    found = detect(int(campaign_id))
    progress.update(1, total=1, message="conversions detected")
    return {"converted": found}
