"""Security headers on every response: no framing, no sniffing, a content security policy.

Why a per-request nonce: FAB's templates carry inline ``<script>`` blocks, each with
``nonce="{{ baselib.get_nonce() }}"``, and that macro calls a ``csp_nonce()`` template global when
one exists (flask-talisman's convention). This module provides that global, so the policy can
allow scripts only from the app itself and from inline blocks with this request's nonce: an
injected ``<script>`` or ``onclick=`` attribute does not run.

Styles keep ``'unsafe-inline'``: FAB's widgets (select2, the date picker) and a few templates set
``style=`` attributes, and a style cannot run code. Everything is served by the app itself
(no CDN, DESIGN §5), so ``'self'`` is the only source. API responses get a policy that allows
nothing at all. HSTS is sent only when ``CRM_HSTS_SECONDS`` is set (production).

``CRM_CONTENT_SECURITY_POLICY`` replaces the screens' policy if an operator must (``{nonce}`` in
it is replaced by the request's nonce).
"""
from __future__ import annotations

import secrets

from flask import Flask, current_app, g, request

SCREEN_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
STATIC_PREFIXES = ("/static/", "/appbuilder/static/", "/vendor/")


def install(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(add_security_headers)


def csp_nonce() -> str:
    """This request's script nonce (one value per request, however often a template asks)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def content_security_policy() -> str:
    if request.path.startswith("/api/"):
        return API_POLICY
    template = current_app.config.get("CRM_CONTENT_SECURITY_POLICY") or SCREEN_POLICY
    return template.replace("{nonce}", csp_nonce())


def add_security_headers(response):
    headers = response.headers
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy",
                       "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", content_security_policy())
    hsts = int(current_app.config.get("CRM_HSTS_SECONDS") or 0)
    if hsts > 0:
        headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
    # Pages and API answers about customers must not stay in shared or browser caches.
    if not request.path.startswith(STATIC_PREFIXES) and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response
