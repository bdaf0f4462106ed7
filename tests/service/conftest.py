"""The greetings' channel fixtures (settings, a local SMS gateway and SMTP server), which the
service notices send through too."""
from tests.greetings.conftest import channel_config, sms_gateway, smtp_server  # noqa: F401
