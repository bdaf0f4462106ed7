"""The product suitability rule (适当性) that every offer of a product to a customer obeys.

It is a compliance rule, not a campaign's: a campaign's launch gate and its sends
(``backoffice.campaigns.gate``), an automation that adds a customer to a running campaign, and
the next-best-offer list on the 360 page (``backoffice.segments.needs``) all apply it, so it lives
here, below the rooms, and imports none of them. Its parts:

* risk: the customer's tolerance (C1–C5) must reach the product's risk level (R1–R5);
* validity: the risk assessment counts for ``CRM_RISK_ASSESSMENT_VALIDITY_DAYS`` days after
  ``risk_assessed_on``;
* elderly: a customer aged ``ELDERLY_AGE`` or older is offered nothing above
  ``ELDERLY_MAX_LEVEL``.
"""
from __future__ import annotations

from flask import current_app, has_app_context

DEFAULT_VALIDITY_DAYS = 365
ELDERLY_AGE = 65
ELDERLY_MAX_LEVEL = 3  # R4 and above are not offered to customers aged 65+


def level(code: str | None) -> int | None:
    """3 for "R3" or "C3"; None for anything else."""
    if not code or len(code) != 2 or not code[1].isdigit():
        return None
    return int(code[1])


def validity_days() -> int:
    """How many days a risk assessment stays current: the setting, or the default outside an
    app (pure tests, scripts)."""
    if has_app_context():
        return int(current_app.config["CRM_RISK_ASSESSMENT_VALIDITY_DAYS"])
    return DEFAULT_VALIDITY_DAYS
