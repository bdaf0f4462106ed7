"""SMS through the bank's HTTP SMS gateway.

Settings: ``CRM_SMS_GATEWAY_URL``, ``CRM_SMS_PAYLOAD`` (a JSON object whose string values may
hold ``{mobile}``, ``{text}``, ``{message_id}``), ``CRM_SMS_HEADERS``, ``CRM_SMS_TIMEOUT``.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice.messaging.contacts import ByMobile
from backoffice.messaging.gateway import JsonGateway


class SmsChannel(ByMobile, JsonGateway):
    code = "sms"
    label = _l("SMS")
    settings = ("CRM_SMS_GATEWAY_URL", "CRM_SMS_PAYLOAD", "CRM_SMS_HEADERS", "CRM_SMS_TIMEOUT")
    quiet_hours = True  # no texts at night
    service = "SMS gateway"
    URL_SETTING, PAYLOAD_SETTING, HEADERS_SETTING, TIMEOUT_SETTING = settings
    DEFAULT_PAYLOAD = {"mobile": "{mobile}", "text": "{text}", "message_id": "{message_id}"}


CHANNEL = SmsChannel
