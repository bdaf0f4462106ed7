"""A phone call by the customer's relationship manager: the "send" is the call task.

The sender writes the FollowUp task with the message's Interaction, so delivery itself has
nothing to transmit. No settings.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice.messaging.delivery import MissingContact, Prepared
from models.customers import Customer


class PhoneTaskChannel:
    code = "phone"
    label = _l("Phone call by the RM")
    settings = ()
    quiet_hours = True  # no calls at night

    def __init__(self, config):
        self.config = config

    @staticmethod
    def reachable():
        return Customer.owner_id.isnot(None)

    @staticmethod
    def address(facts: dict) -> str:
        if not facts.get("owner_id"):
            raise MissingContact("the customer has no relationship manager to call")
        return str(facts["owner_id"])

    def prepare(self, address, subject, body, message_id) -> Prepared:
        return Prepared(lambda: None, lambda: None)

    def quit(self) -> None:
        """Nothing to close."""


CHANNEL = PhoneTaskChannel
