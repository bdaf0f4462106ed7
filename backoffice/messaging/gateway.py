"""Delivery through an HTTP gateway: POST of a configured JSON payload to a configured URL.

The base of the SMS and WeChat channels. Each subclass names its own settings (``URL_SETTING``
and friends) and default payload; string values in the payload (nested ones too) may hold
``{mobile}``, ``{text}``, ``{message_id}`` and whatever :meth:`JsonGateway.values` adds.
"""
from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from backoffice.messaging.delivery import NotConfigured, Prepared, Refused, SendError, \
    Unconfirmed, no_delay


def _setting(value, default):
    """A JSON setting given as text (the environment) or as a mapping (a settings class)."""
    if not value:
        return dict(default)
    return json.loads(value) if isinstance(value, str) else dict(value)


def _fill(value, values: dict):
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


class JsonGateway:
    """Two-phase POST: request line, headers and the body but its last byte, then the rest."""

    URL_SETTING = PAYLOAD_SETTING = HEADERS_SETTING = TIMEOUT_SETTING = ""
    DEFAULT_PAYLOAD: dict = {}
    DEFAULT_TIMEOUT = 15
    service = "gateway"  # names the server in error messages

    def __init__(self, config):
        self.url = config.get(self.URL_SETTING)
        self.payload = _setting(config.get(self.PAYLOAD_SETTING), self.DEFAULT_PAYLOAD)
        self.headers = _setting(config.get(self.HEADERS_SETTING), {})
        self.timeout = float(config.get(self.TIMEOUT_SETTING) or self.DEFAULT_TIMEOUT)

    def values(self, mobile: str, text: str, message_id: str) -> dict:
        return {"mobile": mobile, "text": text, "message_id": message_id}

    def body(self, mobile: str, text: str, message_id: str) -> bytes:
        filled = _fill(self.payload, self.values(mobile, text, message_id))
        return json.dumps(filled, ensure_ascii=False).encode("utf-8")

    def prepare(self, address: str, subject: str, body: str, message_id: str) -> Prepared:
        """Request line, headers and the body but its last byte (a text has no subject)."""
        if not self.url:
            raise NotConfigured(f"{self.URL_SETTING} is not set")
        parts = urlsplit(self.url)
        conn_class = (http.client.HTTPSConnection if parts.scheme == "https"
                      else http.client.HTTPConnection)
        conn = conn_class(parts.hostname, parts.port, timeout=self.timeout)
        data = self.body(address, body, message_id)
        try:
            conn.putrequest("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query
                                                           else ""))
            conn.putheader("Content-Type", "application/json; charset=utf-8")
            conn.putheader("Content-Length", str(len(data)))
            conn.putheader("Idempotency-Key", message_id)
            for name, value in self.headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            no_delay(conn.sock)
            conn.send(data[:-1])
        except OSError as exc:
            conn.close()
            raise SendError(f"{self.service} {parts.hostname}:{parts.port}: {exc}") from exc

        def finish():
            try:
                conn.send(data[-1:])
                response = conn.getresponse()
                answer = response.read(2000)
            except (OSError, http.client.HTTPException) as exc:
                raise Unconfirmed(f"{self.service}: {exc}") from exc
            finally:
                conn.close()
            if not 200 <= response.status < 300:
                raise Refused(f"{self.service} answered {response.status}: "
                              f"{answer.decode('utf-8', 'replace')[:200]}")

        return Prepared(finish, conn.close)

    def quit(self) -> None:
        """Nothing kept open between messages."""
