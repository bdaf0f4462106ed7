"""Sessions (issue 3, item 7): idle and absolute expiry, cookie flags, CSRF on cookie APIs.

Guards two gaps: Flask's signed-cookie session never expires on the server by itself, and FAB
exempts its REST APIs from CSRF (DESIGN pitfall 6) although the back office's APIs also accept
the screen's session cookie. Time is moved by rewriting the session's timestamps through
``session_transaction()``, never by sleeping.
"""
from __future__ import annotations

import time

import pytest
from flask import Flask

from backoffice.security.sessions import (
    LOGIN_AT, SEEN_AT, SEEN_STEP_SECONDS, apply_cookie_settings)
from tests.support.web import api_token, csrf_token, login

MINUTE = 60
HOUR = 3600


def shift(client, *, login_ago=None, seen_ago=None):
    """Pretend the login / the last request happened that many seconds ago."""
    with client.session_transaction() as session:
        now = time.time()
        if login_ago is not None:
            session[LOGIN_AT] = now - login_ago
        if seen_ago is not None:
            session[SEEN_AT] = now - seen_ago


def assert_signed_out(client, response):
    assert response.status_code == 302 and "/login/" in response.location, response.location
    assert client.get("/customers/list/").status_code == 302, "still signed in"


def test_login_starts_the_session_clock(client_as):
    client = client_as("rm1")
    with client.session_transaction() as session:
        assert abs(session[LOGIN_AT] - time.time()) < 60
        assert session[SEEN_AT] >= session[LOGIN_AT]


def test_activity_within_the_idle_limit_keeps_the_session(client_as):
    client = client_as("rm1")
    shift(client, seen_ago=29 * MINUTE)
    assert client.get("/customers/list/").status_code == 200
    with client.session_transaction() as session:
        assert time.time() - session[SEEN_AT] < 60, "the request counted as activity"


def test_activity_moves_the_last_seen_time_in_steps(client_as):
    """A request right after another leaves the signed cookie as it was (no re-signing, no
    Set-Cookie: the search box asks on every keystroke); one a step later moves the time on."""
    client = client_as("rm1")
    shift(client, seen_ago=5)
    with client.session_transaction() as session:
        before = session[SEEN_AT]
    response = client.get("/customers/search/?q=zz")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    with client.session_transaction() as session:
        assert session[SEEN_AT] == before
    shift(client, seen_ago=SEEN_STEP_SECONDS + 1)
    response = client.get("/customers/search/?q=zz")
    assert response.status_code == 200 and "Set-Cookie" in response.headers
    with client.session_transaction() as session:
        assert time.time() - session[SEEN_AT] < 5


def test_thirty_minutes_idle_signs_out_with_a_message(client_as):
    client = client_as("rm1")
    shift(client, seen_ago=30 * MINUTE + 5)
    response = client.get("/customers/list/")
    assert_signed_out(client, response)
    assert "next=%2Fcustomers%2Flist%2F" in response.location
    page = client.get("/login/").get_data(as_text=True)
    assert "30" in page  # "signed out after 30 minutes without activity", in either language


def test_twelve_hours_after_login_signs_out_however_active(client_as):
    client = client_as("rm1")
    shift(client, login_ago=12 * HOUR + 5, seen_ago=10)
    assert_signed_out(client, client.get("/customers/list/"))


def test_just_under_twelve_hours_is_still_signed_in(client_as):
    client = client_as("rm1")
    shift(client, login_ago=12 * HOUR - 60, seen_ago=10)
    assert client.get("/customers/list/").status_code == 200


def test_a_session_without_timestamps_is_over(client_as):
    client = client_as("rm1")
    with client.session_transaction() as session:
        del session[LOGIN_AT]
    assert_signed_out(client, client.get("/customers/list/"))


def test_an_expired_cookie_session_gets_401_from_the_api(client_as):
    client = client_as("rm1")
    assert client.get("/api/v1/customer/").status_code == 200
    shift(client, seen_ago=31 * MINUTE)
    response = client.get("/api/v1/customer/")
    assert response.status_code == 401 and response.json["message"]


def test_limits_are_configurable(client_as, app, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_SESSION_IDLE_MINUTES", 5)
    client = client_as("rm1")
    shift(client, seen_ago=6 * MINUTE)
    assert_signed_out(client, client.get("/customers/list/"))


def test_api_tokens_are_short_lived(app):
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] <= 15 * MINUTE
    refresh = app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    assert refresh.total_seconds() <= app.config["CRM_SESSION_ABSOLUTE_HOURS"] * HOUR


# --- cookies ----------------------------------------------------------------------------------


def session_cookie_header(response, name="session"):
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert headers, response.headers
    return headers[-1]


def test_the_session_cookie_is_httponly_and_samesite(app, world):
    client = app.test_client()
    cookie = session_cookie_header(login(client, "rm1"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie or "SameSite=Strict" in cookie


def test_the_session_cookie_is_secure_when_configured(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    client = app.test_client()
    cookie = session_cookie_header(login(client, "rm1"))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_production_cookies_are_secure_and_the_embedded_default_is_not():
    from config.settings import EmbeddedConfig, ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_SECURE and ProductionConfig.REMEMBER_COOKIE_SECURE
    assert ProductionConfig.CRM_HSTS_SECONDS > 0
    # Served over plain http on 127.0.0.1: a Secure cookie would never come back.
    assert EmbeddedConfig.SESSION_COOKIE_SECURE is False
    for config in (EmbeddedConfig, ProductionConfig):
        assert config.SESSION_COOKIE_HTTPONLY and config.REMEMBER_COOKIE_HTTPONLY
        assert config.SESSION_COOKIE_SAMESITE in ("Lax", "Strict")
        assert config.REMEMBER_COOKIE_SAMESITE in ("Lax", "Strict")


@pytest.mark.parametrize("setting, expected", [(True, True), ("false", False), ("1", True),
                                               (None, "unchanged")])
def test_crm_secure_cookies_overrides_both_cookies(setting, expected):
    app = Flask("cookies")
    app.config.update(SESSION_COOKIE_SECURE="unchanged", REMEMBER_COOKIE_SECURE="unchanged",
                      CRM_SECURE_COOKIES=setting, CRM_SESSION_ABSOLUTE_HOURS=12,
                      JWT_REFRESH_TOKEN_EXPIRES=30 * 24 * HOUR, REMEMBER_COOKIE_DURATION=None)
    apply_cookie_settings(app)
    assert app.config["SESSION_COOKIE_SECURE"] == expected
    assert app.config["REMEMBER_COOKIE_SECURE"] == expected
    # Neither a refresh token nor a remember cookie outlives the absolute session limit.
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds() == 12 * HOUR
    assert app.config["REMEMBER_COOKIE_DURATION"].total_seconds() == 12 * HOUR


# --- CSRF on cookie-authenticated API calls ---------------------------------------------------


def is_csrf_refusal(response) -> bool:
    return response.status_code == 400 and "CSRF" in (response.json or {}).get("message", "")


def test_a_cookie_authenticated_api_write_needs_the_csrf_token(client_as):
    client = client_as("rm1")
    assert client.get("/api/v1/customer/").status_code == 200  # reads need no token
    refused = client.post("/api/v1/customer/", json={})
    assert is_csrf_refusal(refused), refused.get_data(as_text=True)
    assert is_csrf_refusal(client.delete("/api/v1/customer/999999"))
    assert is_csrf_refusal(client.put("/api/v1/customer/999999", json={}))
    forged = client.post("/api/v1/customer/", json={}, headers={"X-CSRFToken": "forged"})
    assert is_csrf_refusal(forged)


def test_the_csrf_token_lets_a_cookie_authenticated_api_write_through(client_as):
    client = client_as("rm1")
    token = csrf_token(client, "/resetmypassword/form")
    response = client.post("/api/v1/customer/", json={}, headers={"X-CSRFToken": token})
    assert not is_csrf_refusal(response)
    assert response.status_code in (400, 422)  # the empty customer itself is refused


def test_a_bearer_token_api_write_needs_no_csrf_token(app, client, client_as, world):
    token = api_token(client, "rm1")
    bearer = {"Authorization": f"Bearer {token}"}
    for caller in (client, client_as("rm1")):  # a machine client, and one with a cookie too
        response = caller.post("/api/v1/customer/", json={}, headers=bearer)
        assert not is_csrf_refusal(response)
        assert response.status_code in (400, 422)


def test_the_api_login_needs_no_csrf_token(client, world):
    assert api_token(client, "rm1")


def test_an_expired_session_can_sign_in_again_at_once(client_as):
    """Going to the login form with an expired session shows the form, not a redirect loop."""
    client = client_as("rm1")
    shift(client, seen_ago=31 * MINUTE)
    assert client.get("/login/").status_code == 200
    assert login(client, "rm1").status_code == 302
    assert client.get("/customers/list/").status_code == 200
