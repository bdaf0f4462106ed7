"""Outbound webhooks: the bank's other systems hear of events in the CRM as signed POSTs.

An administrator registers a URL (http or https), picks events from those features declared to
the outbox (``backoffice.events``), and picks the role whose view of customer data the payload
follows (none: no customer data; sensitive fields masked as on that role's screens, see
``payload``). The secret is generated, shown once, and stored sealed with the field-encryption
key ring. Deliveries are retried with exponential backoff, each attempt recorded with its
response code, and can be replayed from the deliveries screen.

Verifying a delivery (the receiver's side)::

    timestamp = request.headers["X-CRM-Timestamp"]            # seconds since the epoch
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body,
                                    hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, request.headers["X-CRM-Signature"]) \
        and abs(time.time() - int(timestamp)) <= 300

Use the raw bytes received (before any JSON parsing). ``X-CRM-Delivery`` names the delivery
(a replay has a new one) and the body's ``event_id`` the event: deliveries come at least once,
so deduplicate on them. ``backoffice.webhooks.signing.verify`` does the same in Python.

For automation rules: ``deliver_rule_event(session, webhook_id, event_name, payload_dict)``.
"""
from __future__ import annotations

from backoffice.webhooks.service import deliver_rule_event

__all__ = ["deliver_rule_event", "register", "send_queued"]


def register(appbuilder) -> None:
    """Screens, the outbox consumer, the after-request send, the log's words."""
    from backoffice import events
    from backoffice.webhooks import service, views, words

    views.register_views(appbuilder)
    words.install_log_words()
    events.subscribe(service.CONSUMER, service.handle_event, _wants, tables=("webhook",),
                     after_dispatch=send_queued)
    from flask import current_app

    _send_after_request(current_app._get_current_object())


def _wants(name: str) -> bool:
    """Whether an active webhook receives ``name`` (the outbox keeps the answer per process
    while the webhook table is unchanged)."""
    from backoffice.extensions import db
    from backoffice.webhooks import service

    return name in service.subscribed_names(db.session)


def send_queued() -> bool:
    """Start sending what this request or job queued, if it queued anything (the dispatch job
    calls it once its handlers' deliveries are committed; under RQ no request follows it)."""
    from backoffice.webhooks import service

    if not service.take_queued():
        return False
    service.kick()
    return True


def _send_after_request(app) -> None:
    """Start sending what the request queued, after everything else the request does: the
    events' own after-request hook may dispatch inline (no Redis) and queue deliveries then.
    Flask runs after-request functions last-registered first, so this one goes to the front
    of the list. The dispatch job sends what its handlers queued itself (``send_queued``)."""

    def _send_queued(response):
        try:
            send_queued()
        except Exception:  # noqa: BLE001 - the sweep sends them; the response stands
            import logging

            logging.getLogger(__name__).exception("webhooks: could not start sending")
        return response

    functions = app.after_request_funcs.setdefault(None, [])
    if _send_queued.__qualname__ not in {f.__qualname__ for f in functions}:
        functions.insert(0, _send_queued)
