"""The channel registry: every shipped channel is complete, and an incomplete one stops start-up.

Adding a channel is one module in ``backoffice/messaging/channels/`` (plus its settings and, for
a new consent code, a migration); the app factory checks it, so a forgotten part fails at once
with a message naming the channel and the part, not on the first message at night.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from backoffice.messaging import quiet, registry
from backoffice.messaging.delivery import MissingContact, SendError
from models.consent import CONSENT_CHANNELS
from tests.conftest import make_test_config

SHIPPED = {"email", "sms", "wechat", "phone"}


def test_every_shipped_channel_is_complete_and_storable():
    """Each channel has every part, declares its settings, and its code is one the consent
    ledger's check constraint accepts."""
    found = registry.load()
    assert set(found) == SHIPPED
    declared = registry._declared()
    for code, cls in found.items():
        assert registry.problems(cls, declared) == [], code
        assert code in CONSENT_CHANNELS
        assert str(cls.label)
    assert set(registry.quiet_channels()) == {"sms", "phone"}


def test_each_channel_finds_the_address_or_says_which_is_missing():
    facts = {"email": "a@example.com", "mobile": "13900000001", "owner_id": 7}
    channels = registry.channels()
    assert channels["email"].address(facts) == "a@example.com"
    assert channels["sms"].address(facts) == channels["wechat"].address(facts) == "13900000001"
    assert channels["phone"].address(facts) == "7"
    with pytest.raises(MissingContact, match="no e-mail address"):
        channels["email"].address({"email": None})
    with pytest.raises(MissingContact, match="no mobile number"):
        channels["wechat"].address({})
    with pytest.raises(MissingContact, match="no relationship manager"):
        channels["phone"].address({"owner_id": None})


def test_reachable_is_sql_on_the_customer():
    channels = registry.channels()
    assert "email_enc IS NOT NULL" in str(channels["email"].reachable())
    assert "mobile_enc IS NOT NULL" in str(channels["sms"].reachable())
    assert "owner_id IS NOT NULL" in str(channels["phone"].reachable())


def test_an_incomplete_channel_stops_the_app_factory(monkeypatch, tmp_path):
    """The fax module lacks ``prepare`` and ``quiet_hours`` and reads an undeclared setting."""
    from backoffice import create_app

    monkeypatch.setattr(registry, "PACKAGES",
                        registry.PACKAGES + ["tests.messaging.incomplete_channels"])
    with pytest.raises(registry.ChannelError) as raised:
        create_app(make_test_config(f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    message = str(raised.value)
    assert "incomplete_channels.fax.FaxChannel" in message
    assert "method prepare()" in message and "attribute 'quiet_hours'" in message
    assert "CRM_FAX_MODEM_URL declared in config/settings.py" in message


def test_contract_gaps_are_each_named():
    class NoCode:
        label, settings, quiet_hours = "x", "CRM_SMTP_HOST", False
        code = "no spaces allowed"

    gaps = registry.problems(NoCode, registry._declared())
    assert "a code of at most 20 letters, digits or _ (not 'no spaces allowed')" in gaps
    assert "attribute 'settings' as a tuple of names, not a string" in gaps
    assert {"method reachable()", "method address()", "method prepare()",
            "method quit()"} <= set(gaps)


def test_a_module_without_a_channel_class_or_a_second_code_is_refused(monkeypatch, tmp_path):
    package = tmp_path / "more_channels"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "empty.py").write_text('"""Forgot CHANNEL."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "PACKAGES", registry.PACKAGES + ["more_channels"])
    with pytest.raises(registry.ChannelError, match="more_channels.empty sets no CHANNEL"):
        registry.load()
    (package / "empty.py").write_text(
        "from backoffice.messaging.channels.sms import SmsChannel\n\n"
        "class Copy(SmsChannel):\n    pass\n\n\nCHANNEL = Copy\n")
    import importlib
    import sys

    sys.modules.pop("more_channels.empty", None)
    importlib.invalidate_caches()
    with pytest.raises(registry.ChannelError, match="code 'sms' is defined twice"):
        registry.load()


def test_a_channel_added_by_one_module_works_end_to_end(monkeypatch, tmp_path):
    """The pager module is all it takes: the app starts with it, it is opened for a sending run,
    it waits out quiet hours because it says so, and its send delivers."""
    from backoffice import create_app
    from tests.messaging.extra_channels import pager

    monkeypatch.setattr(registry, "PACKAGES",
                        registry.PACKAGES + ["tests.messaging.extra_channels"])
    app = create_app(make_test_config(f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    assert "pager" in app.extensions["crm_channels"]
    assert "pager" in registry.quiet_channels()
    tz = ZoneInfo("Asia/Shanghai")
    night = dt.datetime(2026, 5, 1, 15, 0)  # 23:00 local
    assert quiet.defer_until(night, "pager", tz) == dt.datetime(2026, 5, 2, 0, 0)
    opened = registry.open_channels(app.config)
    sender = opened["pager"]
    address = sender.address({"mobile": "13900000009"})
    pager.DELIVERED.clear()
    prepared = sender.prepare(address, "subject", "hello", "m-1")
    assert pager.DELIVERED == []  # nothing delivered before the last piece
    prepared.finish()
    assert pager.DELIVERED == [("13900000009", "hello", "m-1")]
    with pytest.raises(SendError):
        sender.address({"mobile": ""})
