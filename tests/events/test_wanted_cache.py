"""Which events the rules and webhooks want is kept per process (``events.wanted``), and is
never stale: a webhook switched on or off by another process (here: SQL on a connection of its
own, which no hook of this process sees) counts at the next request and in jobs; and a flush of
a watched record reads neither the rules nor the webhooks table while the answers are kept."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text

from backoffice import events
from backoffice.extensions import db
from backoffice.security import scopes
from models import Customer
from models.webhooks import Webhook
from tests.support.statements import counting

CONSUMER_TABLES = re.compile(r"\b(webhook|automation_rule)\b", re.I)


@pytest.fixture
def webhook(app):
    """An inactive webhook of this test's own event (no feature raises it); deleted after."""
    name = f"cachetest.{uuid.uuid4().hex[:10]}"
    with app.app_context():
        made = Webhook(name=f"wh-{name}", url="http://127.0.0.1:9/hook", events=[name],
                       active=False)
        made.secret = "not-used-here"
        db.session.add(made)
        db.session.commit()
        webhook_id = made.id
        db.session.remove()
    yield webhook_id, name
    with app.app_context():
        db.session.delete(db.session.get(Webhook, webhook_id))
        db.session.commit()
        db.session.remove()


def _elsewhere(app, sql: str, **params) -> None:
    """A write by another process: its own connection and transaction, no ORM session."""
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text(sql), params)


def _wanted_in_a_request(app, name: str) -> bool:
    with app.test_request_context():
        answer = events.wanted(name)
        db.session.remove()
    return answer


def _wanted_in_a_job(app, name: str) -> bool:
    with app.app_context():
        answer = events.wanted(name)
        db.session.remove()
    return answer


def test_a_webhook_switched_on_elsewhere_is_wanted_at_once(app, webhook):
    webhook_id, name = webhook
    assert not _wanted_in_a_request(app, name)
    assert not _wanted_in_a_request(app, name)  # kept: answered again from the process
    assert not _wanted_in_a_job(app, name)

    _elsewhere(app, "UPDATE webhook SET active = :on WHERE id = :id", on=True, id=webhook_id)
    assert _wanted_in_a_request(app, name)
    assert _wanted_in_a_job(app, name)

    _elsewhere(app, "UPDATE webhook SET active = :on WHERE id = :id", on=False, id=webhook_id)
    assert not _wanted_in_a_request(app, name)
    assert not _wanted_in_a_job(app, name)


def test_a_webhook_saved_in_this_request_counts_in_it(app, webhook):
    """The request that switches a webhook on asks again (its own write changed the answer)."""
    webhook_id, name = webhook
    with app.test_request_context():
        assert not events.wanted(name)
        db.session.get(Webhook, webhook_id).active = True
        db.session.flush()
        assert events.wanted(name)
        db.session.rollback()  # never committed: no other request may see it
        db.session.remove()
    assert not _wanted_in_a_request(app, name)


@pytest.fixture
def customer_watched(app, world):
    """A customer of the test bank whose changes are watched (as the automation feature
    arranges); put back as found."""
    watched = Customer in events.watched()
    if not watched:
        events.watch(Customer, "customer")
    yield world.customers["c_rm1"]
    if not watched:
        events._watched.pop(Customer, None)


def _flush_a_change(app, customer_id: int) -> list[str]:
    """The statements of one request that changes a customer and flushes (rolled back)."""
    with counting(app) as seen, app.test_request_context(), \
            scopes.as_scope(scopes.UNRESTRICTED):
        customer = db.session.get(Customer, customer_id)
        customer.occupation = f"cache-{uuid.uuid4().hex[:8]}"
        db.session.flush()
        db.session.rollback()
        db.session.remove()
    assert any(re.match(r"\s*UPDATE customer\b", s, re.I) for s in seen["statements"])
    return seen["statements"]


def test_a_flush_of_a_watched_record_reads_no_rule_or_webhook_while_kept(
        app, customer_watched, webhook):
    webhook_id, _name = webhook
    _flush_a_change(app, customer_watched)  # fills what the process keeps
    statements = _flush_a_change(app, customer_watched)
    assert not [s for s in statements if CONSUMER_TABLES.search(s)], statements

    # Once another process writes the webhooks table, the next flush reads it again.
    _elsewhere(app, "UPDATE webhook SET events = events WHERE id = :id", id=webhook_id)
    statements = _flush_a_change(app, customer_watched)
    assert [s for s in statements if CONSUMER_TABLES.search(s)]
