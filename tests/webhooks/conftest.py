"""A real HTTP receiver on 127.0.0.1 (``http.server`` in a thread), and webhooks of each test's
own, switched off afterwards so that no other test's events reach them."""
from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask_babel import lazy_gettext as _l

EVENT = "webhooktest.ping"  # declared below with a label, as a feature declares its events
EVENT_LABEL = "测试用 Webhook 事件"


class Receiver:
    """Records every request (headers and raw body) and answers with scripted status codes
    (the last one repeats)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.codes = [200]
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body})
                    index = min(len(receiver.requests) - 1, len(receiver.codes) - 1)
                    code = receiver.codes[index]
                answer = b'{"ok": true}' if code < 300 else b"receiver trouble"
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.location = "http://example.invalid/elsewhere"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _declared_event():
    from backoffice import events

    events.declare(EVENT, _l("测试用 Webhook 事件"), "customer")
    yield


def unique(prefix: str = "wh") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_webhook(app, world):
    """``make_webhook(url, role=None, events=(EVENT,))`` -> (webhook id, secret)."""
    from flask_appbuilder.security.sqla.models import Role

    from backoffice.extensions import db
    from backoffice.webhooks import service
    from models.webhooks import Webhook

    made = []

    def _make(url, role=None, events=(EVENT,)):
        with app.test_request_context():
            role_id = None
            if role is not None:
                role_id = db.session.query(Role).filter_by(name=role).one().id
            webhook, secret = service.create(db.session, {
                "name": unique(), "url": url, "events": list(events), "role_id": role_id})
            made.append(webhook.id)
            db.session.remove()
            return webhook.id, secret

    yield _make
    with app.app_context():
        for webhook_id in made:
            webhook = db.session.get(Webhook, webhook_id)
            if webhook is not None:
                webhook.active = False
        db.session.commit()
        db.session.remove()


def body_of(request: dict) -> dict:
    return json.loads(request["body"].decode("utf-8"))


@pytest.fixture
def marked_customer(app, world):
    from backoffice.extensions import db
    from models import Customer
    from tests.support.world import make_prc_id

    serial = uuid.uuid4().int % 400 + 100
    birth = dt.date(1980, 5, 17)
    tag = uuid.uuid4().hex[:8]
    markers = {"id_number": make_prc_id(birth, serial), "notes": f"投资标记{tag}",
               "income": "7654321.09", "occupation": f"职业标记{tag}", "name": f"客户{tag}"}
    with app.app_context():
        customer = Customer(
            customer_no=f"W{uuid.uuid4().int % 10**9:09d}", name=markers["name"],
            customer_type="individual", gender="F", birth_date=birth, id_type="PRC_ID",
            id_number=markers["id_number"], branch_id=world.branches["B1"],
            owner_id=world.staff["rm1"], risk_tolerance="C3", status="active",
            custom_fields={}, tier="private_banking", onboarded_on=dt.date(2021, 1, 1))
        customer.investment_notes = markers["notes"]
        customer.annual_income = Decimal(markers["income"])
        db.session.add(customer)
        db.session.commit()
        markers["id"] = customer.id
        db.session.remove()
    yield markers
    with app.app_context():
        db.session.delete(db.session.get(Customer, markers["id"]))
        db.session.commit()
        db.session.remove()
