"""Large, never-changing files served gzip-compressed, compressed once per process.

Why not a compressing middleware: only a few big vendor files (the 1.5 MB Plotly bundle, about
0.5 MB compressed) are worth it, and compressing them on every request would cost more CPU than
the transfer saves on a bank's LAN. The compressed bytes are computed on the first request and
kept in memory for the life of the process; every process computes the same bytes from the same
file, so nothing has to be shared between processes or machines (DESIGN §2). A file that
changes on disk (a vendored file replaced without a restart) is compressed again.

Browsers that do not send ``Accept-Encoding: gzip`` get the plain file. Responses carry
``Vary: Accept-Encoding`` so that a shared cache never hands gzip to a client that cannot read it,
and an ETag so that a reload without the long-lived cache is answered with 304.
"""
from __future__ import annotations

import gzip
import os
import threading

from flask import Response, request, send_file

_LOCK = threading.Lock()
_CACHE: dict[str, tuple[tuple[int, int], bytes]] = {}


def gzipped(path: str) -> tuple[bytes, str]:
    """The gzip bytes of ``path`` (from the cache when the file is unchanged) and their ETag."""
    stat = os.stat(path)
    key = (stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        cached = _CACHE.get(path)
        if cached is None or cached[0] != key:
            with open(path, "rb") as handle:
                # mtime=0: the same bytes in every process, so every process sends one ETag.
                body = gzip.compress(handle.read(), compresslevel=9, mtime=0)
            cached = _CACHE[path] = (key, body)
    return cached[1], f"{key[0]:x}-{key[1]:x}-gz"


def compressed_file_response(path: str, *, mimetype: str, max_age: int,
                             immutable: bool = False) -> Response:
    """``path`` as a response, gzip-compressed if the browser accepts it, cacheable for
    ``max_age`` seconds (``immutable``: versioned URL, the browser need not revalidate)."""
    cache_control = f"public, max-age={max_age}" + (", immutable" if immutable else "")
    if "gzip" not in request.accept_encodings:
        response = send_file(path, mimetype=mimetype, max_age=max_age, conditional=True)
    else:
        body, etag = gzipped(path)
        response = Response(body, mimetype=mimetype)
        response.headers["Content-Encoding"] = "gzip"
        response.set_etag(etag)
        response = response.make_conditional(request)
    response.headers["Cache-Control"] = cache_control
    response.vary.add("Accept-Encoding")
    return response
