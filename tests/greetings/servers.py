"""Real local servers for the greeting tests: an SMTP server (aiosmtpd) and an SMS gateway.

Both record only complete messages, as real servers do: aiosmtpd hands a message to its handler
only after the end-of-data line, and the gateway acts on a request only when the whole
``Content-Length`` body arrived (a client killed mid-body delivers nothing).
"""
from __future__ import annotations

import email
import json
import socket
import threading
import time
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A port nothing listens on now (aiosmtpd's controller needs it before it starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder:
    """Messages received, thread-safe, with an optional delay per message (a slow server)."""

    def __init__(self, delay: float = 0.0):
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.delay = delay

    def add(self, item: dict) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.messages.append(item)

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.messages)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()


class _SmtpHandler:
    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        for rcpt in envelope.rcpt_tos:
            self.recorder.add({"to": rcpt, "subject": str(message["Subject"]),
                               "message_id": str(message["Message-ID"]),
                               "body": message.get_content().strip()})
        return "250 OK"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 on a free port (started/stopped by the fixture)."""

    def __init__(self, delay: float = 0.0):
        self.recorder = Recorder(delay)
        self.port = free_port()
        self.controller = Controller(_SmtpHandler(self.recorder), hostname="127.0.0.1",
                                     port=self.port)

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class SmsGateway:
    """A real ``http.server`` in a thread, answering 200 to complete JSON requests."""

    def __init__(self, fail_status: int | None = None):
        self.recorder = Recorder()
        self.fail_status = fail_status
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the client went away mid-request: nothing to act on
                    return
                if gateway.fail_status:
                    self.send_response(gateway.fail_status)
                    self.end_headers()
                    return
                payload = json.loads(body)
                gateway.recorder.add({**payload, "path": self.path,
                                      "idempotency_key": self.headers.get("Idempotency-Key")})
                answer = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/sms/send"

    def start(self) -> "SmsGateway":
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
