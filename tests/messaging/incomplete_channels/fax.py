"""A fax channel a maintainer forgot to finish: no ``prepare``, no ``quiet_hours``, and a setting
nobody declared in config/settings.py."""
from __future__ import annotations


class FaxChannel:
    code = "fax"
    label = "Fax"
    settings = ("CRM_FAX_MODEM_URL",)

    def __init__(self, config):
        self.url = config.get("CRM_FAX_MODEM_URL")

    @staticmethod
    def reachable():
        return None

    @staticmethod
    def address(facts):
        return facts.get("fax")

    def quit(self):
        pass


CHANNEL = FaxChannel
