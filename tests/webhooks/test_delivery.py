"""Sending against a real local HTTP server: the signature a receiver can check, retries with
backoff on 5xx until a success (each attempt recorded with its code), no retry after success,
no retry of a refusal or of a redirect to another host, and a replay of the same body signed
anew. The clock is fixed (``T0``, in the future so that no other test's sweep finds these rows
due), so the backoff is checked by the times it sets, never by waiting."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging

from sqlalchemy import select

from tests.webhooks.conftest import EVENT, body_of

T0 = dt.datetime(2031, 3, 1, 2, 0, 0)


def _epoch(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=dt.timezone.utc).timestamp())


def _queue(app, webhook_id, document=None) -> int:
    from backoffice.extensions import db
    from backoffice.webhooks import deliver_rule_event, service

    with app.app_context():
        delivery = deliver_rule_event(db.session, webhook_id, EVENT,
                                      document or {"note": "hello", "amount": 3})
        db.session.commit()
        service.take_queued()
        delivery_id = delivery.id
        db.session.remove()
    return delivery_id


def _send(app, delivery_id, now) -> dict:
    from backoffice.extensions import db
    from backoffice.webhooks import sending

    with app.app_context():
        summary = sending.send_due(db.session, app.config, only_ids=[delivery_id],
                                   clock=lambda: now)
        db.session.remove()
    return summary


def _delivery(app, delivery_id) -> dict:
    from backoffice.extensions import db
    from models.webhooks import WebhookAttempt, WebhookDelivery

    with app.app_context():
        row = db.session.get(WebhookDelivery, delivery_id)
        attempts = db.session.scalars(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.number)).all()
        found = {"status": row.status, "attempts": row.attempts, "code": row.response_code,
                 "next": row.next_attempt_at, "sent_at": row.sent_at, "source": row.source,
                 "replay_of": row.replay_of_id, "excerpt": row.response_excerpt,
                 "log": [(a.number, a.response_code) for a in attempts],
                 "errors": [a.error for a in attempts]}
        db.session.remove()
    return found


def _expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """What a receiver computes, written out here rather than imported from the sender."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def test_a_receiver_can_verify_the_signature_and_timestamp(app, receiver, make_webhook):
    from backoffice.webhooks import signing

    webhook_id, secret = make_webhook(receiver.url)
    delivery_id = _queue(app, webhook_id)
    assert _send(app, delivery_id, T0)["delivered"] == 1

    [request] = receiver.received()
    headers = request["headers"]
    assert request["path"] == "/hook"
    assert headers["X-CRM-Timestamp"] == str(_epoch(T0))
    assert headers["X-CRM-Signature"] == _expected_signature(
        secret, headers["X-CRM-Timestamp"], request["body"])
    assert signing.verify(secret, headers["X-CRM-Timestamp"], headers["X-CRM-Signature"],
                          request["body"], now=_epoch(T0) + 10)
    # A changed body, another secret or a stale timestamp does not verify.
    assert not signing.verify(secret, headers["X-CRM-Timestamp"], headers["X-CRM-Signature"],
                              request["body"] + b" ", now=_epoch(T0))
    assert not signing.verify("another", headers["X-CRM-Timestamp"],
                              headers["X-CRM-Signature"], request["body"], now=_epoch(T0))
    assert not signing.verify(secret, headers["X-CRM-Timestamp"], headers["X-CRM-Signature"],
                              request["body"], now=_epoch(T0) + 3600)
    assert body_of(request)["event"] == EVENT
    assert body_of(request)["data"] == {"note": "hello", "amount": 3}
    assert headers["X-CRM-Delivery"]
    state = _delivery(app, delivery_id)
    assert (state["status"], state["code"], state["attempts"]) == ("delivered", 200, 1)
    assert state["log"] == [(1, 200)]


def test_5xx_is_retried_with_backoff_until_success_then_never_again(app, receiver,
                                                                     make_webhook):
    app.config.update(CRM_WEBHOOK_RETRY_SECONDS=60, CRM_WEBHOOK_MAX_ATTEMPTS=5)
    receiver.codes = [500, 503, 200]
    webhook_id, secret = make_webhook(receiver.url)
    delivery_id = _queue(app, webhook_id)

    assert _send(app, delivery_id, T0)["retrying"] == 1
    first = _delivery(app, delivery_id)
    assert (first["status"], first["code"], first["attempts"]) == ("retry", 500, 1)
    assert first["next"] == T0 + dt.timedelta(seconds=60)
    assert "receiver trouble" in first["excerpt"]

    assert _send(app, delivery_id, T0 + dt.timedelta(seconds=59)) == {
        "delivered": 0, "retrying": 0, "failed": 0, "cancelled": 0, "lost_claim": 0}
    assert len(receiver.received()) == 1  # not due yet: nothing sent

    second_time = T0 + dt.timedelta(seconds=60)
    assert _send(app, delivery_id, second_time)["retrying"] == 1
    second = _delivery(app, delivery_id)
    assert (second["status"], second["code"], second["attempts"]) == ("retry", 503, 2)
    assert second["next"] == second_time + dt.timedelta(seconds=120)  # doubled

    third_time = second_time + dt.timedelta(seconds=120)
    assert _send(app, delivery_id, third_time)["delivered"] == 1
    done = _delivery(app, delivery_id)
    assert (done["status"], done["code"], done["attempts"]) == ("delivered", 200, 3)
    assert done["log"] == [(1, 500), (2, 503), (3, 200)]
    assert done["sent_at"] == third_time and done["next"] is None

    requests = receiver.received()
    assert len({r["body"] for r in requests}) == 1  # the same bytes each time
    for request, moment in zip(requests, (T0, second_time, third_time)):
        assert request["headers"]["X-CRM-Timestamp"] == str(_epoch(moment))
        assert request["headers"]["X-CRM-Signature"] == _expected_signature(
            secret, str(_epoch(moment)), request["body"])

    # Delivered: a later sweep sends nothing.
    _send(app, delivery_id, third_time + dt.timedelta(days=1))
    assert len(receiver.received()) == 3
    assert _delivery(app, delivery_id)["attempts"] == 3


def test_retries_stop_after_the_last_attempt(app, receiver, make_webhook):
    app.config.update(CRM_WEBHOOK_RETRY_SECONDS=60, CRM_WEBHOOK_MAX_ATTEMPTS=2)
    receiver.codes = [500]
    webhook_id, _secret = make_webhook(receiver.url)
    delivery_id = _queue(app, webhook_id)
    _send(app, delivery_id, T0)
    assert _send(app, delivery_id, T0 + dt.timedelta(minutes=5))["failed"] == 1
    state = _delivery(app, delivery_id)
    assert (state["status"], state["attempts"], state["log"]) == ("failed", 2,
                                                                 [(1, 500), (2, 500)])


def test_a_refusal_and_a_redirect_elsewhere_fail_without_retry(app, receiver, make_webhook):
    webhook_id, _secret = make_webhook(receiver.url)
    receiver.codes = [404]
    refused = _queue(app, webhook_id)
    assert _send(app, refused, T0)["failed"] == 1
    assert _delivery(app, refused)["code"] == 404

    receiver.requests.clear()
    receiver.codes = [307]  # to http://example.invalid/elsewhere: another host
    redirected = _queue(app, webhook_id)
    assert _send(app, redirected, T0)["failed"] == 1
    state = _delivery(app, redirected)
    assert state["code"] == 307 and "not followed" in state["errors"][0]
    assert len(receiver.received()) == 1


def test_an_unreachable_receiver_is_retried(app, make_webhook):
    from tests.greetings.servers import free_port

    webhook_id, _secret = make_webhook(f"http://127.0.0.1:{free_port()}/nobody")
    delivery_id = _queue(app, webhook_id)
    assert _send(app, delivery_id, T0)["retrying"] == 1
    state = _delivery(app, delivery_id)
    assert state["status"] == "retry" and state["code"] is None
    assert state["log"] == [(1, None)] and state["errors"][0]


def test_replay_sends_the_same_body_with_a_new_signature(app, receiver, make_webhook):
    from backoffice.extensions import db
    from backoffice.webhooks import service
    from models.audit import AuditLog
    from models.webhooks import WebhookDelivery

    webhook_id, secret = make_webhook(receiver.url)
    delivery_id = _queue(app, webhook_id)
    _send(app, delivery_id, T0)
    with app.test_request_context():
        again = service.replay(db.session, db.session.get(WebhookDelivery, delivery_id))
        again_id = again.id
        service.take_queued()
        db.session.remove()
    later = T0 + dt.timedelta(hours=1)
    assert _send(app, again_id, later)["delivered"] == 1

    first, second = receiver.received()
    assert second["body"] == first["body"]
    assert second["headers"]["X-CRM-Timestamp"] == str(_epoch(later))
    assert second["headers"]["X-CRM-Timestamp"] != first["headers"]["X-CRM-Timestamp"]
    assert second["headers"]["X-CRM-Signature"] != first["headers"]["X-CRM-Signature"]
    assert second["headers"]["X-CRM-Signature"] == _expected_signature(
        secret, second["headers"]["X-CRM-Timestamp"], second["body"])
    assert second["headers"]["X-CRM-Delivery"] != first["headers"]["X-CRM-Delivery"]
    state = _delivery(app, again_id)
    assert (state["source"], state["replay_of"], state["status"]) == (
        "replay", delivery_id, "delivered")
    assert _delivery(app, delivery_id)["status"] == "delivered"  # the original stays as it was
    with app.app_context():
        logged = db.session.scalars(select(AuditLog).where(
            AuditLog.action == "webhook_replay", AuditLog.entity_id == str(webhook_id))).all()
        assert len(logged) == 1
        db.session.remove()


def test_a_disabled_webhooks_deliveries_are_cancelled(app, receiver, make_webhook):
    from backoffice.extensions import db
    from backoffice.webhooks import service
    from models.webhooks import Webhook

    webhook_id, _secret = make_webhook(receiver.url)
    delivery_id = _queue(app, webhook_id)
    with app.test_request_context():
        service.set_active(db.session, db.session.get(Webhook, webhook_id), False)
        db.session.remove()
    assert _send(app, delivery_id, T0)["cancelled"] == 1
    assert receiver.received() == []


def test_the_secret_is_stored_sealed_and_never_logged(app, receiver, make_webhook, caplog):
    from sqlalchemy import text

    from backoffice.extensions import db

    caplog.set_level(logging.DEBUG)
    receiver.codes = [500]
    webhook_id, secret = make_webhook(receiver.url)
    _send(app, _queue(app, webhook_id), T0)
    assert secret not in caplog.text
    with app.app_context():
        stored = db.session.execute(text("SELECT secret_enc FROM webhook WHERE id = :id"),
                                    {"id": webhook_id}).scalar()
        logged = db.session.execute(text(
            "SELECT detail FROM audit_log WHERE entity = 'Webhook' AND entity_id = :id"),
            {"id": str(webhook_id)}).scalars().all()
        db.session.remove()
    assert secret not in stored and stored.startswith("v1.")
    assert logged and not any(secret in (detail or "") for detail in logged)


def test_a_redirect_to_the_same_host_is_followed_with_the_same_signed_body(app, receiver,
                                                                           make_webhook):
    webhook_id, secret = make_webhook(receiver.url)
    receiver.codes = [308, 200]
    receiver.location = receiver.url + "/moved"
    delivery_id = _queue(app, webhook_id)
    assert _send(app, delivery_id, T0)["delivered"] == 1
    first, second = receiver.received()
    assert (first["path"], second["path"]) == ("/hook", "/hook/moved")
    assert second["body"] == first["body"]
    assert second["headers"]["X-CRM-Signature"] == _expected_signature(
        secret, second["headers"]["X-CRM-Timestamp"], second["body"])
