"""One signed POST to a webhook's URL, with the standard library's ``http.client``.

``http.client`` follows no redirect by itself; a 307/308 answer (which keeps the method and the
body) is followed only to the same scheme, host and port, at most a few times, because a
redirect to another host would hand customer data and a valid signature to a server the admin
never registered. Every other redirect is an answer like any refusal. The connection and every
read have a timeout; only the first bytes of an answer are read and kept.
"""
from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

ALLOWED_SCHEMES = ("http", "https")
EXCERPT_BYTES = 500
MAX_SAME_ORIGIN_REDIRECTS = 3


class TransportError(Exception):
    """No answer came: the host could not be reached, or it did not answer in time."""


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str
    redirect_refused: str | None = None  # the Location of a redirect not followed


def _origin(parts) -> tuple:
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _target(parts) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body`` to ``url`` and return the answer's status and first bytes."""
    current = url
    for _hop in range(MAX_SAME_ORIGIN_REDIRECTS + 1):
        answer, location = _post_once(current, body, headers, timeout)
        if location is None:
            return answer
        following = urljoin(current, location)
        if answer.status not in (307, 308) \
                or _origin(urlsplit(following)) != _origin(urlsplit(url)):
            return Answer(answer.status, answer.excerpt, redirect_refused=following)
        current = following
    return Answer(answer.status, answer.excerpt, redirect_refused=current)


def _post_once(url: str, body: bytes, headers: dict[str, str], timeout: float):
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
    conn_class = (http.client.HTTPSConnection if parts.scheme == "https"
                  else http.client.HTTPConnection)
    conn = conn_class(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", _target(parts), body=body, headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "bank-crm-webhooks", **headers})
        response = conn.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
        location = response.getheader("Location") if 300 <= response.status < 400 else None
        return Answer(response.status, excerpt), location
    except (OSError, socket.timeout, http.client.HTTPException) as exc:
        raise TransportError(f"{parts.hostname}:{parts.port or ''}: "
                             f"{exc.__class__.__name__}: {exc}") from exc
    finally:
        conn.close()
