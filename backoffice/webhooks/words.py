"""Webhook words: delivery statuses and sources, and the operation log's labels for webhooks."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

STATUSES = {"pending": lazy_pgettext("message status", "Pending"), "sending": _l("Sending"),
            "retry": _l("Waiting to retry"), "delivered": _l("Delivered"),
            "failed": _l("Failed"), "cancelled": _l("Cancelled")}
SOURCES = {"event": _l("Event"), "rule": _l("Automation rule"), "replay": _l("Replay")}
ACTIONS = {
    "webhook_create": _l("Registered a webhook"),
    "webhook_update": _l("Changed a webhook"),
    "webhook_enable": _l("Switched a webhook on"),
    "webhook_disable": _l("Switched a webhook off"),
    "webhook_secret": _l("Issued a new webhook secret"),
    "webhook_replay": _l("Replayed a webhook delivery"),
}
DETAILS = {"url": _l("URL"), "events": _l("Events"), "role": _l("Role"),
           "delivery": _l("Delivery"), "replay": _l("Replay")}


def install_log_words() -> None:
    """Give the operation log's screens and exports the labels of the webhook rows (the log
    keeps the codes, events included); added to its dictionaries, never replacing an entry."""
    from backoffice.audit import detail_words, words
    from backoffice.webhooks.catalog import LoggedEvents

    for target, entries in ((words.ACTION_LABELS, ACTIONS), (words.DETAIL_LABELS, DETAILS),
                            (words.ENTITY_LABELS, {"Webhook": _l("Webhook")})):
        for key, value in entries.items():
            target.setdefault(key, value)
    coded = detail_words.CODED_VALUES.setdefault("Webhook", {})
    coded.setdefault("events", LoggedEvents())
    for key in ("old", "new"):  # a change as rows written before the log kept codes hold it
        coded.setdefault(key, LoggedEvents(codes=False))
