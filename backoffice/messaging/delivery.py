"""The send protocol every channel follows: two phases, so that a ledger can commit last.

A message is delivered only when its last byte reaches the server: SMTP delivers nothing until
the end-of-data line (``.``) of a complete DATA transfer (RFC 5321 §4.1.1.4; a dropped connection
before it discards the message), and an HTTP server acts on a request only once the
``Content-Length`` body has fully arrived. So a channel's ``prepare`` sends everything but that
last piece, the sender commits ``sent`` (conditional on still holding its claim, see
:mod:`backoffice.messaging.ledger`), and :meth:`Prepared.finish` sends the last piece and reads
the answer. A worker killed before the commit leaves a row ``sending`` whose message provably
was not delivered (safe to send again); the only window left is between the commit and one
``send()`` system call, where a kill can lose a message but never duplicate one.
"""
from __future__ import annotations

import socket


class SendError(Exception):
    """The server refused the message or could not be reached (the send may be retried)."""


class NotConfigured(SendError):
    """The channel has no server configured."""


class Refused(SendError):
    """The server answered the complete message with a refusal: it was not delivered."""


class Unconfirmed(SendError):
    """The last piece went out but no answer came: delivered or not, nobody can tell.

    The ledger keeps such a message ``sent`` (with the error noted): a message may be lost in
    this rare case, but it is never sent twice.
    """


class MissingContact(SendError):
    """The customer cannot be reached on the chosen channel (no retry helps)."""


class Prepared:
    """A message sent up to its last piece: :meth:`finish` delivers it, :meth:`abort` drops it."""

    def __init__(self, finish, abort):
        self._finish, self._abort = finish, abort

    def finish(self) -> None:
        self._finish()

    def abort(self) -> None:
        self._abort()


def no_delay(sock) -> None:
    """Send the last piece at once: with Nagle's algorithm a small write after a larger one
    waits for the peer's delayed acknowledgement, a pause added to every message."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass
