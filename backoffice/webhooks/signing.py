"""The signature every delivery carries, and how a receiver checks it.

``X-CRM-Timestamp`` is the sending time in whole seconds since the epoch; ``X-CRM-Signature`` is
``sha256=`` and the hex HMAC-SHA256, keyed with the webhook's secret, of ``f"{timestamp}.{body}"``
(the timestamp's digits, a dot, then the raw body bytes). Signing the timestamp with the body
lets a receiver refuse an old request replayed by someone who captured it: it recomputes the
HMAC over the bytes it received, compares in constant time, and refuses a timestamp too far
from its own clock. An admin's replay is signed afresh, with a new timestamp.
"""
from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-CRM-Timestamp"
SIGNATURE_HEADER = "X-CRM-Signature"
PREFIX = "sha256="


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex>`` over ``f"{timestamp}.{body}"``."""
    mac = hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode("ascii") + body,
                   hashlib.sha256)
    return PREFIX + mac.hexdigest()


def headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The two signature headers for sending ``body`` now."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, timestamp: str | None, signed: str | None, body: bytes, *,
           tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    if not timestamp or not signed or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signed)
