"""Sending e-mail and SMS in two phases, so that the ledger can commit at the last moment.

A message is delivered only when its last byte reaches the server: SMTP delivers nothing until
the end-of-data line (``.``) of a complete DATA transfer (RFC 5321 §4.1.1.4; a dropped connection
before it discards the message), and an HTTP server acts on a request only once the
``Content-Length`` body has fully arrived. So :meth:`prepare` sends everything but that last
piece, the dispatcher commits ``sent`` (conditional on still holding its claim), and
:meth:`Prepared.finish` sends the last piece and reads the answer. A worker killed before the
commit leaves a row ``sending`` whose message provably was not delivered (safe to send again);
the only window left is between the commit and one ``send()`` system call, where a kill can
lose a message but never duplicate one.

Settings (``config/settings.py``; every ``CRM_*`` may come from the environment):
``CRM_SMTP_HOST``, ``CRM_SMTP_PORT``, ``CRM_SMTP_TLS`` (none, starttls, ssl),
``CRM_SMTP_USERNAME``, ``CRM_SMTP_PASSWORD``, ``CRM_SMTP_SENDER``, ``CRM_SMTP_TIMEOUT``;
``CRM_SMS_GATEWAY_URL``, ``CRM_SMS_PAYLOAD`` (a JSON object whose string values may hold
``{mobile}``, ``{text}``, ``{message_id}``), ``CRM_SMS_HEADERS``, ``CRM_SMS_TIMEOUT``.
"""
from __future__ import annotations

import http.client
import json
import re
import smtplib
import socket
import ssl
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

CRLF = b"\r\n"


class SendError(Exception):
    """The server refused the message or could not be reached (the send may be retried)."""


class NotConfigured(SendError):
    """The channel has no server configured."""


class Refused(SendError):
    """The server answered the complete message with a refusal: it was not delivered."""


class Unconfirmed(SendError):
    """The last piece went out but no answer came: delivered or not, nobody can tell.

    The ledger keeps such a message ``sent`` (with the error noted): a greeting may be lost in
    this rare case, but it is never sent twice.
    """


class Prepared:
    """A message sent up to its last piece: :meth:`finish` delivers it, :meth:`abort` drops it."""

    def __init__(self, finish, abort):
        self._finish, self._abort = finish, abort

    def finish(self) -> None:
        self._finish()

    def abort(self) -> None:
        self._abort()


class SmtpChannel:
    """E-mail through a real SMTP server; one connection reused for a run's messages."""

    name = "email"

    def __init__(self, config):
        self.host = config.get("CRM_SMTP_HOST")
        self.port = int(config.get("CRM_SMTP_PORT") or 25)
        self.tls = (config.get("CRM_SMTP_TLS") or "none").lower()
        self.username = config.get("CRM_SMTP_USERNAME")
        self.password = config.get("CRM_SMTP_PASSWORD")
        self.sender = config.get("CRM_SMTP_SENDER") or "noreply@bank.example"
        self.timeout = float(config.get("CRM_SMTP_TIMEOUT") or 30)
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if not self.host:
            raise NotConfigured("CRM_SMTP_HOST is not set")
        try:
            if self.tls == "ssl":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                conn.ehlo_or_helo_if_needed()
                if self.tls == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            conn.ehlo_or_helo_if_needed()
            _no_delay(conn.sock)
            if self.username:
                conn.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"SMTP {self.host}:{self.port}: {exc}") from exc
        return conn

    def message(self, to: str, subject: str, body: str, message_id: str) -> bytes:
        """The RFC 5322 message: a plain UTF-8 text part, 8bit (what ``EmailMessage`` makes of
        short lines), written directly: ``EmailMessage`` costs ~5 ms a message, a sixth of a
        greeting's send time. Long lines or unusual addresses take the ``EmailMessage`` path.
        Line ends are LF like ``as_bytes``; ``_dot_stuffed`` makes them CRLF on the wire."""
        lines = body.splitlines() or [""]
        if (all(len(line.encode("utf-8")) <= 900 for line in lines)
                and _PLAIN_ADDRESS.match(to) and _PLAIN_ADDRESS.match(self.sender)):
            head = (f"From: {self.sender}\nTo: {to}\n"
                    f"Subject: {_encoded_header(subject)}\n"
                    f"Date: {formatdate(localtime=False)}\n"
                    f"Message-ID: <{message_id}@crm.greetings>\n"
                    "MIME-Version: 1.0\nContent-Type: text/plain; charset=\"utf-8\"\n"
                    "Content-Transfer-Encoding: 8bit\n\n")
            return head.encode("ascii") + "\n".join(lines).encode("utf-8") + b"\n"
        return self._email_message(to, subject, body, message_id)

    def _email_message(self, to: str, subject: str, body: str, message_id: str) -> bytes:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{message_id}@crm.greetings>"
        msg.set_content(body)
        return msg.as_bytes()

    def prepare(self, to: str, subject: str, body: str, message_id: str) -> Prepared:
        """MAIL, RCPT, DATA and the message, without the end-of-data line."""
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        try:
            code, reply = conn.mail(self.sender)
            if code != 250:
                raise SendError(f"MAIL FROM refused: {code} {reply!r}")
            code, reply = conn.rcpt(to)
            if code not in (250, 251):
                raise SendError(f"RCPT TO {to} refused: {code} {reply!r}")
            conn.putcmd("data")
            code, reply = conn.getreply()
            if code != 354:
                raise SendError(f"DATA refused: {code} {reply!r}")
            conn.send(_dot_stuffed(self.message(to, subject, body, message_id)))
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SendError(f"SMTP: {exc}") from exc
        except SendError:
            self._reset()
            raise

        def finish():
            try:
                conn.send(b"." + CRLF)
                code, reply = conn.getreply()
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise Unconfirmed(f"SMTP end of data: {exc}") from exc
            if code != 250:
                raise Refused(f"message refused: {code} {reply!r}")

        return Prepared(finish, self.close)

    def _reset(self) -> None:
        """After a refusal the session goes on (RSET); if even that fails, reconnect next time."""
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        """Drop the connection (mid-DATA this discards the message on the server)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.sock.close() if conn.sock else None
            except OSError:
                pass
            conn.sock = conn.file = None

    def quit(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                pass


_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$")


def _encoded_header(value: str) -> str:
    """ASCII as is; otherwise RFC 2047 base64 words (folded, each under 76 characters)."""
    if value.isascii() and "\n" not in value and "\r" not in value:
        return value
    return Header(value, "utf-8").encode()


def _no_delay(sock) -> None:
    """Send the last piece at once: with Nagle's algorithm a small write after a larger one
    waits for the peer's delayed ACK (about 40 ms a message)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def _dot_stuffed(data: bytes) -> bytes:
    """CRLF line ends and leading dots doubled (what ``smtplib.SMTP.data`` does), ending CRLF."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", CRLF, data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(CRLF) else data + CRLF


class SmsGatewayChannel:
    """SMS through an HTTP gateway: POST of a configured JSON payload to a configured URL."""

    name = "sms"
    DEFAULT_PAYLOAD = {"mobile": "{mobile}", "text": "{text}", "message_id": "{message_id}"}

    def __init__(self, config):
        self.url = config.get("CRM_SMS_GATEWAY_URL")
        payload = config.get("CRM_SMS_PAYLOAD") or self.DEFAULT_PAYLOAD
        self.payload = json.loads(payload) if isinstance(payload, str) else dict(payload)
        headers = config.get("CRM_SMS_HEADERS") or {}
        self.headers = json.loads(headers) if isinstance(headers, str) else dict(headers)
        self.timeout = float(config.get("CRM_SMS_TIMEOUT") or 15)

    def body(self, mobile: str, text: str, message_id: str) -> bytes:
        values = {"mobile": mobile, "text": text, "message_id": message_id}
        filled = {key: (value.format(**values) if isinstance(value, str) else value)
                  for key, value in self.payload.items()}
        return json.dumps(filled, ensure_ascii=False).encode("utf-8")

    def prepare(self, mobile: str, text: str, message_id: str) -> Prepared:
        """Request line, headers and the body but its last byte."""
        if not self.url:
            raise NotConfigured("CRM_SMS_GATEWAY_URL is not set")
        parts = urlsplit(self.url)
        conn_class = (http.client.HTTPSConnection if parts.scheme == "https"
                      else http.client.HTTPConnection)
        conn = conn_class(parts.hostname, parts.port, timeout=self.timeout)
        body = self.body(mobile, text, message_id)
        try:
            conn.putrequest("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query
                                                           else ""))
            conn.putheader("Content-Type", "application/json; charset=utf-8")
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Idempotency-Key", message_id)
            for name, value in self.headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            _no_delay(conn.sock)
            conn.send(body[:-1])
        except OSError as exc:
            conn.close()
            raise SendError(f"SMS gateway {parts.hostname}:{parts.port}: {exc}") from exc

        def finish():
            try:
                conn.send(body[-1:])
                response = conn.getresponse()
                answer = response.read(2000)
            except (OSError, http.client.HTTPException) as exc:
                raise Unconfirmed(f"SMS gateway: {exc}") from exc
            finally:
                conn.close()
            if not 200 <= response.status < 300:
                raise Refused(f"SMS gateway answered {response.status}: "
                                f"{answer.decode('utf-8', 'replace')[:200]}")

        return Prepared(finish, conn.close)

    def quit(self) -> None:
        """Nothing kept open between messages."""
