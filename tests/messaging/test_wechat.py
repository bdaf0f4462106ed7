"""WeChat is a channel of its own: its own settings, its own payload, sent through a real local
HTTP endpoint (the relay stand-in of tests/greetings/servers.py) in the two-phase protocol."""
from __future__ import annotations

import json

import pytest

from backoffice.messaging.channels.wechat import WeChatChannel
from backoffice.messaging.delivery import NotConfigured, Refused, SendError
from config.settings import BaseConfig
from tests.greetings.servers import SmsGateway


@pytest.fixture
def relay():
    server = SmsGateway().start()
    yield server
    server.stop()


def test_wechat_settings_are_its_own_and_declared():
    for name in WeChatChannel.settings:
        assert name.startswith("CRM_WECHAT_") and hasattr(BaseConfig, name), name
    assert BaseConfig.CRM_WECHAT_TIMEOUT == 15


def test_the_sms_gateway_does_not_carry_wechat():
    """An SMS gateway alone does not make WeChat work: the relay has its own address."""
    channel = WeChatChannel({"CRM_SMS_GATEWAY_URL": "http://127.0.0.1:9/sms"})
    with pytest.raises(NotConfigured, match="CRM_WECHAT_GATEWAY_URL is not set"):
        channel.prepare("13900000001", "s", "hello", "m-1")


def test_a_template_message_goes_out_once_the_last_byte_is_sent(relay):
    channel = WeChatChannel({"CRM_WECHAT_GATEWAY_URL": relay.url,
                             "CRM_WECHAT_TEMPLATE_ID": "TPL-greeting",
                             "CRM_WECHAT_HEADERS": '{"X-Relay-Key": "k"}',
                             "CRM_WECHAT_TIMEOUT": "5"})
    assert channel.timeout == 5.0
    prepared = channel.prepare("13900000001", "ignored subject", "生日快乐", "campaign-7")
    assert relay.recorder.snapshot() == []  # the body's last byte is still held back
    prepared.finish()
    (got,) = relay.recorder.snapshot()
    assert got == {"mobile": "13900000001", "template_id": "TPL-greeting",
                   "data": {"content": "生日快乐"}, "message_id": "campaign-7",
                   "path": "/sms/send", "idempotency_key": "campaign-7"}


def test_a_configured_payload_fills_nested_values(relay):
    payload = {"touser": "{mobile}", "template": "{template_id}",
               "data": {"first": {"value": "{text}"}}, "tags": ["{message_id}", 3]}
    channel = WeChatChannel({"CRM_WECHAT_GATEWAY_URL": relay.url,
                             "CRM_WECHAT_PAYLOAD": json.dumps(payload)})
    channel.prepare("13900000002", "", "您好", "n-1").finish()
    (got,) = relay.recorder.snapshot()
    assert got["touser"] == "13900000002" and got["template"] == ""
    assert got["data"] == {"first": {"value": "您好"}} and got["tags"] == ["n-1", 3]


def test_a_refusal_and_an_unreachable_relay_are_send_errors():
    refusing = SmsGateway(fail_status=503).start()
    try:
        channel = WeChatChannel({"CRM_WECHAT_GATEWAY_URL": refusing.url})
        with pytest.raises(Refused, match="WeChat relay answered 503"):
            channel.prepare("13900000003", "", "x", "r-1").finish()
    finally:
        refusing.stop()
    from tests.greetings.servers import free_port

    down = WeChatChannel({"CRM_WECHAT_GATEWAY_URL": f"http://127.0.0.1:{free_port()}/x"})
    with pytest.raises(SendError, match="WeChat relay 127.0.0.1"):
        down.prepare("13900000003", "", "x", "r-2")
