"""Logging in and posting forms through the test client with CSRF switched on."""
from __future__ import annotations

import re

PASSWORD = "Test-Passw0rd!2026"
_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(client, url: str) -> str:
    """The CSRF token of the form served at ``url``."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    match = _CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no csrf_token on {url}"
    return match.group(1) or match.group(2)


def login(client, username: str, password: str = PASSWORD):
    """Log in through the real login form (CSRF included); returns the response."""
    token = csrf_token(client, "/login/")
    return client.post("/login/", data={"username": username, "password": password,
                                        "csrf_token": token}, follow_redirects=False)


def post_form(client, url: str, data: dict, follow_redirects=False):
    """Post ``data`` to the form at ``url`` with that form's CSRF token."""
    payload = {"csrf_token": csrf_token(client, url), **data}
    return client.post(url, data=payload, follow_redirects=follow_redirects)


def api_token(client, username: str, password: str = PASSWORD) -> str:
    """A JWT access token from the API login (how machine clients authenticate)."""
    response = client.post("/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", "refresh": False})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["access_token"]
