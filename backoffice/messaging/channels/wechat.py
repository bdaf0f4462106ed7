"""WeChat through the bank's official-account relay (an HTTP service of the bank).

The relay sends a template message to the follower bound to a mobile number, so the customer's
address is their mobile number and the request names the official account's message template.
Settings: ``CRM_WECHAT_GATEWAY_URL``, ``CRM_WECHAT_TEMPLATE_ID`` (unset: the relay's default
template), ``CRM_WECHAT_PAYLOAD`` (a JSON object whose string values, nested ones too, may hold
``{mobile}``, ``{text}``, ``{message_id}``, ``{template_id}``), ``CRM_WECHAT_HEADERS``,
``CRM_WECHAT_TIMEOUT``.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice.messaging.contacts import ByMobile
from backoffice.messaging.gateway import JsonGateway


class WeChatChannel(ByMobile, JsonGateway):
    code = "wechat"
    label = _l("WeChat")
    settings = ("CRM_WECHAT_GATEWAY_URL", "CRM_WECHAT_PAYLOAD", "CRM_WECHAT_HEADERS",
                "CRM_WECHAT_TIMEOUT", "CRM_WECHAT_TEMPLATE_ID")
    quiet_hours = False  # a WeChat message waits, silent, in the official account's thread
    service = "WeChat relay"
    URL_SETTING, PAYLOAD_SETTING, HEADERS_SETTING, TIMEOUT_SETTING = settings[:4]
    DEFAULT_PAYLOAD = {"mobile": "{mobile}", "template_id": "{template_id}",
                       "data": {"content": "{text}"}, "message_id": "{message_id}"}

    def __init__(self, config):
        super().__init__(config)
        self.template_id = config.get("CRM_WECHAT_TEMPLATE_ID") or ""

    def values(self, mobile: str, text: str, message_id: str) -> dict:
        return {**super().values(mobile, text, message_id), "template_id": self.template_id}


CHANNEL = WeChatChannel
