"""Security headers (issue 3, item 7): no framing, no sniffing, a content security policy.

Guards that every response, screen or API, carries the headers, and that the screens' policy
really allows the pages' own scripts and nothing else: every ``<script>`` on a page carries the
request's nonce, and no page relies on inline event handlers the policy would block. (The
browser smoke test in tests/browser drives the screens under this policy in Chromium.)
"""
from __future__ import annotations

import re

import pytest

NONCE = re.compile(r"'nonce-([^']+)'")
SCRIPT = re.compile(r"<script\b[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def assert_common_headers(response):
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy
    return policy


def script_policy(policy: str) -> str:
    return next(part.strip() for part in policy.split(";") if part.strip().startswith("script-src"))


def test_the_login_page_has_the_headers(client):
    policy = assert_common_headers(client.get("/login/"))
    assert "default-src 'self'" in policy
    assert "'unsafe-inline'" not in script_policy(policy)
    assert "Strict-Transport-Security" not in client.get("/login/").headers  # plain http


@pytest.mark.parametrize("url", ["/", "/customers/list/", "/customers/add",
                                 "/interactions/list/", "/users/userinfo/"])
def test_every_script_on_a_screen_carries_the_nonce(client_as, url):
    response = client_as("rm1").get(url)
    assert response.status_code == 200
    policy = assert_common_headers(response)
    nonce = NONCE.search(script_policy(policy)).group(1)
    page = response.get_data(as_text=True)
    scripts = SCRIPT.findall(page)
    assert scripts, "FAB pages load scripts"
    missing = [tag for tag in scripts if f'nonce="{nonce}"' not in tag]
    assert missing == [], f"scripts the policy would block on {url}: {missing}"
    assert INLINE_HANDLER.findall(page) == [], "inline event handlers are blocked by the CSP"


def test_each_request_gets_its_own_nonce(client):
    first = NONCE.search(client.get("/login/").headers["Content-Security-Policy"]).group(1)
    second = NONCE.search(client.get("/login/").headers["Content-Security-Policy"]).group(1)
    assert first != second and len(first) >= 16


def test_api_answers_have_the_headers_and_allow_nothing(client_as, client):
    for response in (client_as("rm1").get("/api/v1/customer/"), client.get("/api/v1/customer/")):
        policy = assert_common_headers(response)
        assert "default-src 'none'" in policy
        assert response.headers["Cache-Control"] == "no-store"


def test_error_pages_and_redirects_have_the_headers(client):
    assert_common_headers(client.get("/no-such-page"))
    assert_common_headers(client.get("/customers/list/"))  # redirect to login


def test_hsts_is_sent_when_configured(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_HSTS_SECONDS", 31536000)
    assert client.get("/login/").headers["Strict-Transport-Security"].startswith(
        "max-age=31536000")


def test_static_files_stay_cacheable(client):
    response = client.get("/static/crm.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()
