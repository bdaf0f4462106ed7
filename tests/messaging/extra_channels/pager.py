"""A complete test channel, added as a maintainer would: one module (its settings are declared
ones, so the test needs no edit of config/settings.py). It "delivers" to a list in memory."""
from __future__ import annotations

from backoffice.messaging.delivery import MissingContact, Prepared
from models.customers import Customer

DELIVERED: list[tuple[str, str, str]] = []


class PagerChannel:
    code = "pager"
    label = "Pager"
    settings = ("CRM_SMS_TIMEOUT",)
    quiet_hours = True

    def __init__(self, config):
        self.timeout = float(config.get("CRM_SMS_TIMEOUT") or 15)

    @staticmethod
    def reachable():
        return Customer.mobile_enc.isnot(None)

    @staticmethod
    def address(facts):
        if not facts.get("mobile"):
            raise MissingContact("the customer has no pager number")
        return facts["mobile"]

    def prepare(self, address, subject, body, message_id):
        return Prepared(lambda: DELIVERED.append((address, body, message_id)), lambda: None)

    def quit(self):
        pass


CHANNEL = PagerChannel
