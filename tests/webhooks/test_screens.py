"""The webhook screens: administrators only, every other role refused on every route; a URL
that is not http(s) refused; the secret shown once; the deliveries page in labels, not codes;
Replay from the screen sends the same body again."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.support.web import csrf_token, post_form
from tests.support.world import STAFF
from tests.webhooks.conftest import EVENT, EVENT_LABEL, unique

OTHERS = sorted(name for name, (role, _branch) in STAFF.items() if role != "Admin")


def _admin_role(app):
    """Who may manage webhooks is read from the grants, not from a role's name."""
    from config.roles import ROLES

    return {name for name, spec in ROLES.items() if ("can_write", "Webhook") in
            spec["permissions"]}


def test_only_administrators_hold_the_webhook_grants(app):
    assert _admin_role(app) == {"Admin"}


@pytest.mark.parametrize("username", OTHERS)
def test_other_roles_are_refused_everywhere(app, client_as, make_webhook, receiver, username):
    from backoffice.extensions import db
    from models.webhooks import Webhook

    webhook_id, _secret = make_webhook(receiver.url)
    client = client_as(username)
    for url in ("/webhooks/", "/webhooks/new", f"/webhooks/edit/{webhook_id}",
                "/webhooks/deliveries", f"/webhooks/deliveries?webhook={webhook_id}"):
        assert client.get(url).status_code in (302, 403, 404), (username, url)
    app.config["WTF_CSRF_ENABLED"] = False  # so the refusal is the permission's (restored)
    name = unique("refused")
    for url, data in (("/webhooks/new", {"name": name, "url": receiver.url, "events": EVENT}),
                      (f"/webhooks/edit/{webhook_id}", {"name": name, "url": receiver.url,
                                                        "events": EVENT}),
                      (f"/webhooks/toggle/{webhook_id}", {}),
                      (f"/webhooks/secret/{webhook_id}", {})):
        response = client.post(url, data=data)
        assert response.status_code in (302, 403, 404), (username, url)
        assert "webhook-secret" not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Webhook.id).where(Webhook.name == name)) is None
        assert db.session.get(Webhook, webhook_id).active
        db.session.remove()


@pytest.mark.parametrize("url", ["ftp://files.bank.example/in", "javascript:alert(1)",
                                 "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
                                 "http://user:pw@receiver.bank.example/hook", "//no-scheme/x",
                                 "http:///no-host"])
def test_a_url_that_is_not_http_is_refused(app, client_as, url):
    from backoffice.extensions import db
    from models.webhooks import Webhook

    admin = client_as("admin")
    name = unique("badurl")
    response = post_form(admin, "/webhooks/new", {"name": name, "url": url, "events": EVENT})
    assert response.status_code == 200
    assert 'data-field="url"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Webhook.id).where(Webhook.name == name)) is None
        db.session.remove()


def test_register_shows_the_secret_once_and_logs_without_it(app, client_as, receiver):
    from backoffice.extensions import db
    from models.audit import AuditLog
    from models.webhooks import Webhook

    admin = client_as("admin")
    name = unique("created")
    response = post_form(admin, "/webhooks/new", {"name": name, "url": receiver.url,
                                                  "events": EVENT, "active": "y"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'<pre id="webhook-secret">([^<]+)</pre>',
                       response.get_data(as_text=True)).group(1)
    try:
        with app.app_context():
            webhook = db.session.scalars(select(Webhook).where(Webhook.name == name)).one()
            webhook_id = webhook.id
            assert webhook.secret == secret and webhook.events == [EVENT]
            assert webhook.role_id is None  # no customer data unless a role is picked
            db.session.remove()
        for url in ("/webhooks/", f"/webhooks/edit/{webhook_id}",
                    f"/webhooks/deliveries?webhook={webhook_id}"):
            page = admin.get(url)
            assert page.status_code == 200 and secret not in page.get_data(as_text=True)
        index = admin.get("/webhooks/").get_data(as_text=True)
        assert EVENT_LABEL in index and f">{EVENT}<" not in index

        # A change is logged; a new secret replaces the old one and is shown once too.
        changed = post_form(admin, f"/webhooks/edit/{webhook_id}", {
            "name": name, "url": receiver.url + "?v=2", "events": EVENT})
        assert changed.status_code == 302
        renewed = admin.post(f"/webhooks/secret/{webhook_id}",
                             data={"csrf_token": csrf_token(admin, "/webhooks/")})
        new_secret = re.search(r'<pre id="webhook-secret">([^<]+)</pre>',
                               renewed.get_data(as_text=True)).group(1)
        assert new_secret != secret
        with app.app_context():
            webhook = db.session.get(Webhook, webhook_id)
            assert webhook.secret == new_secret and webhook.active is False  # unticked
            rows = db.session.scalars(select(AuditLog).where(
                AuditLog.entity == "Webhook", AuditLog.entity_id == str(webhook_id))
                .order_by(AuditLog.id)).all()
            assert [row.action for row in rows] == ["webhook_create", "webhook_update",
                                                    "webhook_secret"]
            assert all(row.actor_username == "admin" for row in rows)
            for row in rows:
                assert secret not in (row.detail or "") and new_secret not in (row.detail or "")
            db.session.remove()
    finally:
        with app.app_context():
            db.session.scalars(select(Webhook).where(Webhook.name == name)).one().active = False
            db.session.commit()
            db.session.remove()


def test_deliveries_page_shows_labels_and_replay_resends(app, client_as, receiver,
                                                         make_webhook):
    from backoffice.extensions import db
    from backoffice.webhooks import deliver_rule_event, service, sending
    from backoffice.webhooks.words import SOURCES, STATUSES
    from models.webhooks import WebhookDelivery

    webhook_id, _secret = make_webhook(receiver.url)
    with app.app_context():
        delivery = deliver_rule_event(db.session, webhook_id, EVENT, {"note": "screens"})
        db.session.commit()
        service.take_queued()
        delivery_id = delivery.id
        sending.send_due(db.session, app.config, only_ids=[delivery_id])
        db.session.remove()

    admin = client_as("admin")
    page = admin.get(f"/webhooks/deliveries?webhook={webhook_id}").get_data(as_text=True)
    assert EVENT_LABEL in page and EVENT not in page
    row = re.search(rf'<tr data-delivery="{delivery_id}">(.*?)</tr>', page, re.S).group(1)
    status = re.search(r'<td class="status">([^<]*)</td>', row).group(1)
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("zh"):  # the page's language
        labels = {str(label) for label in STATUSES.values()}
    assert status not in STATUSES and status in labels
    assert re.search(r'<td class="code">200</td>', row)
    assert re.search(r'<td class="attempts">1</td>', row)
    assert not any(f">{code}<" in row for code in (*STATUSES, *SOURCES))
    detail = admin.get(f"/webhooks/delivery/{delivery_id}").get_data(as_text=True)
    assert EVENT_LABEL in detail and EVENT not in detail

    response = admin.post(f"/webhooks/replay/{delivery_id}",
                          data={"csrf_token": csrf_token(admin, "/webhooks/")})
    assert response.status_code == 302
    first, second = receiver.received()  # sent inline (no Redis) right after the request
    assert second["body"] == first["body"]
    with app.app_context():
        replay = db.session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.replay_of_id == delivery_id)).one()
        assert (replay.source, replay.status) == ("replay", "delivered")
        db.session.remove()
