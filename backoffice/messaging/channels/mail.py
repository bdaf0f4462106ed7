"""E-mail through SMTP, in the two phases of :mod:`backoffice.messaging.delivery`.

Settings (``config/settings.py``): ``CRM_SMTP_HOST``, ``CRM_SMTP_PORT``, ``CRM_SMTP_TLS`` (none,
starttls, ssl), ``CRM_SMTP_USERNAME``, ``CRM_SMTP_PASSWORD``, ``CRM_SMTP_SENDER``,
``CRM_SMTP_TIMEOUT``.
"""
from __future__ import annotations

import re
import smtplib
import ssl
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate

from flask_babel import lazy_gettext as _l

from backoffice.messaging.delivery import MissingContact, NotConfigured, Prepared, Refused, \
    SendError, Unconfirmed, no_delay
from models.customers import Customer

CRLF = b"\r\n"


class SmtpChannel:
    """E-mail through a real SMTP server; one connection reused for a run's messages."""

    code = "email"
    label = _l("Email")
    settings = ("CRM_SMTP_HOST", "CRM_SMTP_PORT", "CRM_SMTP_TLS", "CRM_SMTP_USERNAME",
                "CRM_SMTP_PASSWORD", "CRM_SMTP_SENDER", "CRM_SMTP_TIMEOUT")
    quiet_hours = False  # an e-mail waits in the inbox

    @staticmethod
    def reachable():
        return Customer.email_enc.isnot(None)

    @staticmethod
    def address(facts: dict) -> str:
        if not facts.get("email"):
            raise MissingContact("the customer has no e-mail address")
        return facts["email"]

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
            no_delay(conn.sock)
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


def _dot_stuffed(data: bytes) -> bytes:
    """CRLF line ends and leading dots doubled (what ``smtplib.SMTP.data`` does), ending CRLF."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", CRLF, data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(CRLF) else data + CRLF


CHANNEL = SmtpChannel
