"""Under RQ the event-dispatch job starts sending the deliveries its handlers queued: a worker
that runs the dispatch runs the send job next, instead of the delivery waiting for the minute's
sweep; a dispatch that queued no delivery starts no send job. Real Redis, a real forking
worker (``flask crm worker --burst`` in this process) and a real HTTP receiver."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.jobs.test_worker_rq import in_process_worker, rq_app  # noqa: F401 - fixtures
from tests.webhooks.conftest import EVENT

SEND = "jobs.webhooks.send_due"


def _runs_since(before: int, name: str) -> list:
    from backoffice.extensions import db
    from models import JobRun

    db.session.expire_all()
    return list(db.session.scalars(select(JobRun).where(JobRun.id > before,
                                                        JobRun.name == name)))


def _last_run_id() -> int:
    from backoffice.extensions import db
    from models import JobRun

    return db.session.scalar(select(func.max(JobRun.id))) or 0


def test_the_dispatch_job_sends_what_its_handlers_queued(rq_app, in_process_worker,  # noqa: F811
                                                         receiver, make_webhook,
                                                         marked_customer):
    from backoffice import events
    from backoffice.extensions import db
    from jobs.queue import enqueue
    from models.webhooks import WebhookDelivery

    webhook_id, _secret = make_webhook(receiver.url)
    customer_id = marked_customer["id"]
    before = _last_run_id()
    assert events.publish(db.session, EVENT, entity="customer", entity_id=customer_id,
                          customer_id=customer_id, data={"note": "rq"})
    db.session.commit()
    dispatch = enqueue("jobs.events.dispatch", description="events (test)")
    assert dispatch.status == "queued" and dispatch.rq_job_id  # on the queue, not inline

    assert in_process_worker()  # burst: runs the dispatch, then whatever it enqueued

    sends = _runs_since(before, SEND)
    assert [run.status for run in sends] == ["finished"], [(r.status, r.error) for r in sends]
    received = [request for request in receiver.received()
                if request["headers"].get("X-CRM-Event") == EVENT]
    assert len(received) == 1
    delivery = db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.webhook_id == webhook_id)).one()
    assert delivery.status == "delivered" and delivery.attempts == 1


def test_a_dispatch_that_queued_no_delivery_starts_no_send_job(rq_app,  # noqa: F811
                                                               in_process_worker):  # noqa: F811
    from jobs.queue import enqueue

    before = _last_run_id()
    enqueue("jobs.events.dispatch", description="events (test)")
    assert in_process_worker()
    assert [run.status for run in _runs_since(before, "jobs.events.dispatch")] == ["finished"]
    assert _runs_since(before, SEND) == []
