"""Events are stored by their codes and shown by their declared labels in the reader's language:
a delivery on its screens and in ``flask crm webhooks deliveries``, a webhook's rows in the
operation log. Rows the log kept before it kept codes hold a label in the saver's language and
are shown in the reader's."""
from __future__ import annotations

import json
import re

import pytest
from flask_babel import force_locale
from sqlalchemy import delete, select

from backoffice.service.complaints import COMPLAINT_OPENED
from tests.support.visible_text import visible_text

LANGUAGES = ("en", "zh")


@pytest.fixture
def labels(app):
    """The declared label of the event in each language (they differ, or the test proves
    nothing)."""
    from backoffice import events

    declared = events.declared()[COMPLAINT_OPENED].label
    found = {}
    with app.test_request_context():
        for language in LANGUAGES:
            with force_locale(language):
                found[language] = str(declared)
    assert found["en"] != found["zh"]
    return found


@pytest.fixture
def delivery(app, make_webhook, receiver):
    """(webhook id, delivery id) of one queued delivery of the event, never sent."""
    from backoffice.extensions import db
    from backoffice.webhooks import service
    from models.webhooks import Webhook, WebhookDelivery

    webhook_id, _secret = make_webhook(receiver.url, events=(COMPLAINT_OPENED,))
    with app.app_context():
        made = service.queue_event(db.session, db.session.get(Webhook, webhook_id),
                                   name=COMPLAINT_OPENED, data={"note": "words"})
        db.session.commit()
        service.take_queued()  # not sent: only read
        delivery_id = made.id
        assert db.session.get(WebhookDelivery, delivery_id).event_name == COMPLAINT_OPENED
        db.session.remove()
    yield webhook_id, delivery_id
    with app.app_context():
        db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id == delivery_id))
        db.session.commit()
        db.session.remove()


def _other(language: str) -> str:
    return "zh" if language == "en" else "en"


def test_a_delivery_reads_in_the_readers_language_on_its_screens(app, client_as, labels,
                                                                  delivery):
    webhook_id, delivery_id = delivery
    admin = client_as("admin")
    for language in LANGUAGES:
        assert admin.get(f"/lang/{language}").status_code == 302
        detail = visible_text(admin.get(f"/webhooks/delivery/{delivery_id}")
                              .get_data(as_text=True))
        listing = admin.get(f"/webhooks/deliveries?webhook={webhook_id}").get_data(as_text=True)
        row = visible_text(re.search(rf'<tr data-delivery="{delivery_id}">(.*?)</tr>',
                                     listing, re.S).group(1))
        for text in (detail, row):
            assert labels[language] in text, (language, text)
            assert labels[_other(language)] not in text and COMPLAINT_OPENED not in text


def test_the_cli_lists_a_delivery_in_the_language_asked(app, labels, delivery):
    webhook_id, delivery_id = delivery
    runner = app.test_cli_runner()
    for language in LANGUAGES:
        result = runner.invoke(args=["crm", "webhooks", "deliveries", "--webhook",
                                     str(webhook_id), "--language", language])
        assert result.exit_code == 0, result.output
        line = next(line for line in result.output.splitlines()
                    if line.startswith(f"{delivery_id}\t"))
        assert labels[language] in line and labels[_other(language)] not in line
        assert COMPLAINT_OPENED not in result.output


def test_the_cli_refuses_an_unknown_language_or_webhook(app, delivery):
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["crm", "webhooks", "deliveries", "--language", "fr"])
    assert unknown.exit_code == 2 and "--language" in unknown.output
    assert "Traceback" not in unknown.output
    missing = runner.invoke(args=["crm", "webhooks", "deliveries", "--webhook", "987654321"])
    assert missing.exit_code == 2 and "987654321" in missing.output


def test_the_log_keeps_codes_and_shows_labels_in_the_readers_language(app, client_as, labels,
                                                                        delivery):
    from backoffice.extensions import db
    from models.audit import AuditLog

    webhook_id, _delivery_id = delivery
    with app.app_context():
        row = db.session.scalars(select(AuditLog).where(
            AuditLog.entity == "Webhook", AuditLog.entity_id == str(webhook_id),
            AuditLog.action == "webhook_create")).one()
        row_id = row.id
        assert json.loads(row.detail)["events"] == [COMPLAINT_OPENED]
        db.session.remove()
    auditor = client_as("auditor")
    for language in LANGUAGES:
        auditor.get(f"/lang/{language}")
        html = auditor.get(f"/auditlog/show/{row_id}").get_data(as_text=True)
        start = html.index('class="dl-horizontal crm-log-detail"')
        shown = visible_text(html[start - 4:html.index("</dl>", start)])
        assert labels[language] in shown and labels[_other(language)] not in shown
        assert COMPLAINT_OPENED not in shown


@pytest.mark.parametrize("stored_in", LANGUAGES)
def test_a_row_logged_with_a_label_is_shown_in_the_readers_language(app, labels, stored_in):
    """Before the log kept codes it kept the saver's label (and a change as old/new): such a
    label is shown as the event's label in the reader's language; other text as it is."""
    from backoffice.audit.words import detail_text

    created = json.dumps({"name": "legacy", "events": [labels[stored_in]]}, ensure_ascii=False)
    changed = json.dumps({"name": "legacy", "changes": {
        "events": {"old": [labels[stored_in]], "new": [labels[stored_in], "某个旧事件"]},
        "url": {"old": "http://a.example/hook", "new": "http://b.example/hook"}}},
        ensure_ascii=False)
    for reader in LANGUAGES:
        with app.test_request_context(), force_locale(reader):
            for detail in (created, changed):
                text = detail_text(detail, "Webhook")
                assert labels[reader] in text, (reader, text)
                if reader != stored_in:
                    assert labels[stored_in] not in text
            text = detail_text(changed, "Webhook")
            assert "某个旧事件" in text and "http://b.example/hook" in text
