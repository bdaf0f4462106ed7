"""Telling a customer something on a channel they consented to, logged as an interaction.

Used for service notices (loan progress, complaint outcomes): the purpose is ``service``, and
the channel is the first of e-mail, SMS with an open service grant and a contact detail. The
message goes out through messaging's channels; the Interaction records it (or why it could not
go).
"""
from __future__ import annotations

from sqlalchemy import select

from backoffice.messaging import registry
from backoffice.messaging.delivery import SendError
from models import Interaction
from models.base import utcnow
from models.consent import Consent

NOTICE_CHANNELS = ("sms", "email")
NOT_SENT = "NOT SENT"  # in the summary of a notice the server refused or never got


def delivered(interaction) -> bool:
    """Whether a notice logged by :func:`notify` went out (None: no channel could be used)."""
    return interaction is not None and f": {NOT_SENT} (" not in interaction.summary


def consented_channel(session, customer, purpose: str = "service") -> str | None:
    open_grants = set(session.scalars(select(Consent.channel).where(
        Consent.customer_id == customer.id, Consent.purpose == purpose,
        Consent.granted.is_(True), Consent.withdrawn_at.is_(None))))
    facts = {"mobile": customer.mobile, "email": customer.email}
    for channel in NOTICE_CHANNELS:
        if channel in open_grants and _address(channel, facts):
            return channel
    return None


def notify(session, config, customer, *, subject: str, body: str, topic: str,
           message_id: str, staff_id=None) -> Interaction | None:
    """Send now on a consented channel and log it; None when no channel may be used."""
    channel = consented_channel(session, customer)
    if channel is None:
        return None
    sender = registry.get(channel)(config)
    try:
        address = sender.address({"mobile": customer.mobile, "email": customer.email})
        sender.prepare(address, subject, body, message_id).finish()
        summary = f"{subject}: {body}"
    except SendError as exc:
        summary = f"{subject}: {NOT_SENT} ({exc})"
    finally:
        sender.quit()
    interaction = Interaction(customer_id=customer.id, staff_id=staff_id, occurred_at=utcnow(),
                              channel=channel, direction="outbound", topic=topic,
                              summary=summary[:2000], custom_fields={})
    session.add(interaction)
    return interaction


def _address(channel: str, facts: dict) -> str | None:
    try:
        return registry.get(channel).address(facts)
    except SendError:
        return None
