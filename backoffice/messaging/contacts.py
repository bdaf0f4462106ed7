"""How channels that share an address kind reach a customer."""
from __future__ import annotations

from backoffice.messaging.delivery import MissingContact
from models.customers import Customer


class ByMobile:
    """Mixin: the customer's mobile number is the address (SMS; the WeChat relay maps it to the
    follower bound to it)."""

    @staticmethod
    def reachable():
        return Customer.mobile_enc.isnot(None)

    @staticmethod
    def address(facts: dict) -> str:
        if not facts.get("mobile"):
            raise MissingContact("the customer has no mobile number")
        return facts["mobile"]
