"""Webhook use cases: register, change, switch on and off, new secret; queue, replay, send.

Each use case validates first, collecting every error, then writes in one transaction with its
operation-log row (the registration and every change, the replays). The log names the URL
without its query string and never the secret: only that a new one was issued.

Deliveries are queued in the caller's transaction (an event's delivery commits with the
outbox's "handled" row, or not at all) and sent afterwards by ``jobs.webhooks``: right after
the request or job that queued them (:func:`kick`), and by the cron sweep every minute, which
also sends the retries whose backoff has passed.
"""
from __future__ import annotations

import contextvars
import secrets
from urllib.parse import urlsplit, urlunsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from backoffice.audit import log as audit
from backoffice.errors import WriteRefused
from backoffice.webhooks import catalog, payload
from backoffice.webhooks.transport import ALLOWED_SCHEMES
from models.base import utcnow
from models.webhooks import Webhook, WebhookDelivery

ENTITY = "Webhook"
CONSUMER = "webhooks"
_queued: contextvars.ContextVar[bool] = contextvars.ContextVar("crm_webhooks_queued",
                                                               default=False)


class WebhookRefused(WriteRefused):
    """The webhook's settings are refused: ``errors`` maps each field to why."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def check_url(url: str) -> str | None:
    """Why ``url`` cannot receive webhooks (None: it can)."""
    text = (url or "").strip()
    if not text:
        return _l("Enter the URL that receives the webhook.")
    if len(text) > 1000:
        return _l("The URL is too long (1000 characters at most).")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        return _l("This is not a valid URL.")
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return _l("Only http:// and https:// URLs can receive webhooks.")
    if not parts.hostname:
        return _l("The URL must name a host.")
    if parts.username or parts.password:
        return _l("Put no user name or password in the URL: deliveries are signed with the "
                  "webhook's secret.")
    if any(ch.isspace() for ch in text):
        return _l("The URL must not contain spaces.")
    return None


def logged_url(url: str) -> str:
    """The URL as the log keeps it: without query string or fragment (tokens live there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _clean(session, values: dict, current: Webhook | None) -> dict:
    errors, clean = {}, {}
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = _l("Give the webhook a name.")
    elif len(name) > 100:
        errors["name"] = _l("The name is too long (100 characters at most).")
    else:
        taken = session.scalar(select(Webhook.id).where(Webhook.name == name))
        if taken is not None and (current is None or taken != current.id):
            errors["name"] = _l("Another webhook already has this name.")
    clean["name"] = name
    url = (values.get("url") or "").strip()
    problem = check_url(url)
    if problem:
        errors["url"] = problem
    clean["url"] = url
    events = [e for e in values.get("events") or [] if e]
    declared = catalog.declared()
    unknown = [e for e in events if e not in declared]
    if not events:
        errors["events"] = _l("Pick at least one event.")
    elif unknown:
        errors["events"] = _l("Pick events from the list.")
    clean["events"] = sorted(set(events))
    role_id = values.get("role_id")
    clean["role"] = None
    if role_id not in (None, ""):
        from flask_appbuilder.security.sqla.models import Role

        role = session.get(Role, int(role_id)) if str(role_id).isdigit() else None
        if role is None:
            errors["role_id"] = _l("Pick a role from the list.")
        clean["role"] = role
    clean["active"] = bool(values.get("active", True))
    if errors:
        raise WebhookRefused(errors)
    return clean


def _summary(webhook: Webhook) -> dict:
    """What the log says of a webhook: events by code, shown by their labels in the reader's
    language (``catalog.LoggedEvents``); a label stored here would be in the saver's."""
    return {"name": webhook.name, "url": logged_url(webhook.url),
            "events": list(webhook.events or ()),
            "role": webhook.role.name if webhook.role is not None else None,
            "active": bool(webhook.active)}


def create(session, values: dict, user=None) -> tuple[Webhook, str]:
    """Register a webhook; returns it and its secret (shown once, never again)."""
    clean = _clean(session, values, None)
    secret = new_secret()
    webhook = Webhook(name=clean["name"], url=clean["url"], events=clean["events"],
                      role=clean["role"], active=clean["active"],
                      created_by_id=getattr(user, "id", None))
    webhook.secret = secret
    session.add(webhook)
    session.flush()
    audit.record("webhook_create", entity=ENTITY, entity_id=webhook.id,
                 detail=_summary(webhook), actor=user)
    session.commit()
    return webhook, secret


def update(session, webhook: Webhook, values: dict, user=None) -> Webhook:
    clean = _clean(session, values, webhook)
    before = _summary(webhook)
    webhook.name, webhook.url, webhook.events = clean["name"], clean["url"], clean["events"]
    webhook.role, webhook.active = clean["role"], clean["active"]
    after = _summary(webhook)
    changes = {k: {"before": before[k], "after": after[k]} for k in after
               if before[k] != after[k]}
    if changes:
        session.flush()
        audit.record("webhook_update", entity=ENTITY, entity_id=webhook.id,
                     detail={"name": webhook.name, "changes": changes}, actor=user)
    session.commit()
    return webhook


def set_active(session, webhook: Webhook, active: bool, user=None) -> None:
    if bool(webhook.active) == active:
        return
    webhook.active = active
    session.flush()
    audit.record("webhook_enable" if active else "webhook_disable", entity=ENTITY,
                 entity_id=webhook.id, detail={"name": webhook.name}, actor=user)
    session.commit()


def rotate_secret(session, webhook: Webhook, user=None) -> str:
    """A new secret (shown once); the old one stops signing at once."""
    secret = new_secret()
    webhook.secret = secret
    session.flush()
    audit.record("webhook_secret", entity=ENTITY, entity_id=webhook.id,
                 detail={"name": webhook.name}, actor=user)
    session.commit()
    return secret


# --- deliveries ------------------------------------------------------------------------------


def queue(session, webhook: Webhook, event_name: str, body: bytes, *, event_id=None,
          source: str = "event", replay_of: WebhookDelivery | None = None,
          user=None) -> WebhookDelivery:
    """Add a delivery of ``body`` to ``session`` (due now); sent after the caller commits."""
    delivery = WebhookDelivery(webhook_id=webhook.id, event_name=event_name, event_id=event_id,
                               source=source, replay_of_id=getattr(replay_of, "id", None),
                               status="pending", attempts=0, next_attempt_at=utcnow(),
                               created_by_id=getattr(user, "id", None))
    delivery.body = body
    session.add(delivery)
    _queued.set(True)
    return delivery


def queue_event(session, webhook: Webhook, *, name: str, entity=None, entity_id=None,
                customer_id=None, data=None, occurred_at=None, event_id=None,
                source: str = "event") -> WebhookDelivery:
    """Build the body of one event as the webhook's role sees it, and queue it."""
    document = payload.build(session, webhook.role, event_name=name, entity=entity,
                             entity_id=entity_id, customer_id=customer_id, data=data,
                             occurred_at=occurred_at, event_id=event_id)
    return queue(session, webhook, name, payload.encode(document), event_id=event_id,
                 source=source)


def deliver_rule_event(session, webhook_id: int, event_name: str, payload_dict: dict):
    """Queue a signed delivery for an automation rule's "call a webhook" action.

    The rule's document is filtered through the webhook's role like an event's data
    (``customer_id``, ``entity`` and ``entity_id`` in it name what it is about). Returns the
    delivery, or None when the webhook is gone or disabled. Sent after the caller commits.
    """
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or not webhook.active:
        return None
    data = dict(payload_dict or {})
    return queue_event(session, webhook, name=event_name, entity=data.get("entity"),
                       entity_id=data.get("entity_id"), customer_id=data.get("customer_id"),
                       data=data, source="rule")


def replay(session, delivery: WebhookDelivery, user=None) -> WebhookDelivery:
    """Send a delivery's body again, as a new delivery signed at its own sending time."""
    again = queue(session, delivery.webhook, delivery.event_name, delivery.body,
                  event_id=delivery.event_id, source="replay", replay_of=delivery, user=user)
    session.flush()
    audit.record("webhook_replay", entity=ENTITY, entity_id=delivery.webhook_id,
                 detail={"name": delivery.webhook.name, "delivery": delivery.id,
                         "replay": again.id}, actor=user)
    session.commit()
    return again


def take_queued() -> bool:
    """Whether deliveries were queued in this context since the last call (and forget it)."""
    queued = _queued.get()
    _queued.set(False)
    return queued


def kick(requested_by_id=None) -> None:
    """Start sending what is due now (a job; inline without Redis)."""
    from jobs.queue import enqueue

    enqueue("jobs.webhooks.send_due", requested_by_id=requested_by_id,
            description=_l("Webhook deliveries"))


# --- the outbox consumer ---------------------------------------------------------------------


def subscribed_names(session) -> frozenset:
    """Event names some active webhook receives."""
    names = set()
    with session.no_autoflush:
        for events in session.scalars(select(Webhook.events).where(Webhook.active.is_(True))):
            names.update(events or ())
    return frozenset(names)


def handle_event(session, event) -> None:
    """The outbox handler: one delivery per active webhook that receives the event and was
    on when it occurred (an older event still in the outbox is not news to a new webhook)."""
    webhooks = session.scalars(select(Webhook).where(
        Webhook.active.is_(True),
        or_(Webhook.active_since.is_(None), Webhook.active_since <= event.created_at))
        .order_by(Webhook.id)).all()
    for webhook in webhooks:
        if event.name in (webhook.events or ()):
            queue_event(session, webhook, name=event.name, entity=event.entity,
                        entity_id=event.entity_id, customer_id=event.customer_id,
                        data=event.data, occurred_at=event.created_at, event_id=event.id)
