"""Sessions and API tokens end on the server: logout, lockout, deactivation, new passwords.

Guards the gap that a signed session cookie and a signed JWT stay valid until they expire,
whatever happens on the server: a copy of the cookie kept from before a logout, or a token
issued before a lockout, deactivation or password change, must sign nobody in. Each test makes
its own member of staff, so the shared test bank is never signed out or locked. Revocation is
read from the database on every request, so a raise made by another process (here: another
connection) counts at once.
"""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import create_engine, text

from tests.support.web import PASSWORD, api_token, csrf_token, login, post_form

WRONG = "Wrong-Passw0rd!9999"
NEW_PASSWORD = "Brand-New-Passw0rd!77"


@pytest.fixture
def make_staff(app, world):
    """A relationship manager of the test's own (name, id), agreement accepted."""

    def _make(role="RelationshipManager"):
        from backoffice.extensions import db

        username = f"rv_{secrets.token_hex(4)}"
        with app.app_context():
            sm = app.appbuilder.sm
            user = sm.add_user(username=username, first_name="测试", last_name="吊销测试",
                               email=f"{username}@example.com", role=sm.find_role(role),
                               password=PASSWORD)
            user.branch_id = world.branches.get("B1")
            user.employee_no = username.upper()
            user.confidentiality_accepted_at = dt.datetime(2026, 1, 5, 1, 0)
            db.session.commit()
            user_id = user.id
            db.session.remove()
        return username, user_id

    return _make


def signed_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    assert client.get("/customers/list/").status_code == 200
    return client


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str):
    """A fresh browser presenting a copied session cookie."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client


def assert_cookie_dead(client):
    response = client.get("/customers/list/")
    assert response.status_code == 302 and "/login/" in response.location
    assert client.get("/api/v1/customer/").status_code == 401


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_token_dead(app, token: str):
    response = app.test_client().get("/api/v1/customer/", headers=bearer(token))
    assert response.status_code == 401, response.get_data(as_text=True)


def assert_token_alive(app, token: str):
    assert app.test_client().get("/api/v1/customer/", headers=bearer(token)).status_code == 200


def set_user(app, user_id, **values):
    from backoffice.extensions import db
    from models import Staff

    with app.app_context():
        user = db.session.get(Staff, user_id)
        for name, value in values.items():
            setattr(user, name, value)
        db.session.commit()
        db.session.remove()


def epoch_of(app, user_id) -> int:
    from backoffice.extensions import db
    from models import Staff

    with app.app_context():
        value = db.session.get(Staff, user_id).session_epoch
        db.session.remove()
    return value


# --- logout -----------------------------------------------------------------------------------


def test_a_session_cookie_replayed_after_logout_signs_nobody_in(app, make_staff):
    username, _ = make_staff()
    client = signed_in(app, username)
    kept = cookie_of(client)
    assert replay(app, kept).get("/customers/list/").status_code == 200  # the copy works before
    assert client.get("/logout/").status_code == 302
    assert_cookie_dead(replay(app, kept))


def test_logout_ends_the_users_api_tokens_and_refresh_tokens(app, make_staff):
    username, _ = make_staff()
    client = signed_in(app, username)
    login_response = app.test_client().post("/api/v1/security/login", json={
        "username": username, "password": PASSWORD, "provider": "db", "refresh": True})
    access, refresh = login_response.json["access_token"], login_response.json["refresh_token"]
    assert_token_alive(app, access)
    client.get("/logout/")
    assert_token_dead(app, access)
    refreshed = app.test_client().post("/api/v1/security/refresh", headers=bearer(refresh))
    assert refreshed.status_code == 401
    # Signing in again gives a session and a token that work.
    fresh = signed_in(app, username)
    assert fresh.get("/api/v1/customer/").status_code == 200
    assert_token_alive(app, api_token(app.test_client(), username))


def test_a_refresh_token_made_before_the_revocation_cannot_mint_a_new_access_token(
        app, make_staff):
    username, user_id = make_staff()
    response = app.test_client().post("/api/v1/security/login", json={
        "username": username, "password": PASSWORD, "provider": "db", "refresh": True})
    refresh = response.json["refresh_token"]
    ok = app.test_client().post("/api/v1/security/refresh", headers=bearer(refresh))
    assert ok.status_code == 200
    assert_token_alive(app, ok.json["access_token"])
    set_user(app, user_id, locked_until=dt.datetime.utcnow() + dt.timedelta(minutes=30))
    assert app.test_client().post("/api/v1/security/refresh",
                                  headers=bearer(refresh)).status_code == 401
    assert_token_dead(app, ok.json["access_token"])


# --- lockout, deactivation ---------------------------------------------------------------------


def test_a_lockout_ends_sessions_and_tokens_issued_before(app, make_staff):
    username, user_id = make_staff()
    client = signed_in(app, username)
    token = api_token(app.test_client(), username)
    before = epoch_of(app, user_id)
    guesser = app.test_client()
    for _ in range(app.config.get("CRM_LOGIN_MAX_FAILURES", 5)):
        guesser.post("/api/v1/security/login", json={
            "username": username, "password": WRONG, "provider": "db"})
    assert epoch_of(app, user_id) > before, "the lockout did not revoke"
    assert_cookie_dead(client)
    assert_token_dead(app, token)


def test_an_unlock_or_an_expired_lock_does_not_revive_old_tokens(app, make_staff):
    username, user_id = make_staff()
    token = api_token(app.test_client(), username)
    set_user(app, user_id, locked_until=dt.datetime.utcnow() + dt.timedelta(minutes=30))
    set_user(app, user_id, locked_until=None, fail_login_count=0)
    assert_token_dead(app, token)
    assert_token_alive(app, api_token(app.test_client(), username))


def test_deactivation_ends_sessions_and_tokens_even_after_reactivation(app, make_staff):
    username, user_id = make_staff()
    client = signed_in(app, username)
    kept = cookie_of(client)
    token = api_token(app.test_client(), username)
    set_user(app, user_id, active=False)
    assert_token_dead(app, token)
    set_user(app, user_id, active=True)
    assert_token_dead(app, token)
    assert_cookie_dead(replay(app, kept))
    assert_cookie_dead(client)


def test_an_admin_deactivating_on_the_user_screen_ends_the_session(app, make_staff, client_as):
    """The admin's own path: the user edit form (FAB's ``UserDBModelView``)."""
    username, user_id = make_staff()
    client = signed_in(app, username)
    token = api_token(app.test_client(), username)
    admin = client_as("admin")
    form_page = admin.get(f"/users/edit/{user_id}")
    assert form_page.status_code == 200
    from backoffice.extensions import db
    from models import Staff

    with app.app_context():
        user = db.session.get(Staff, user_id)
        data = {"first_name": user.first_name, "last_name": user.last_name,
                "username": user.username, "email": user.email,
                "roles": [str(role.id) for role in user.roles],
                "employee_no": user.employee_no, "branch": str(user.branch_id)}
        db.session.remove()
    # "active" left out of the posted form: an unticked checkbox, i.e. deactivated.
    response = post_form(admin, f"/users/edit/{user_id}", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert_cookie_dead(client)
    assert_token_dead(app, token)


# --- password changes ---------------------------------------------------------------------------


def test_changing_ones_own_password_keeps_this_session_and_ends_the_others(app, make_staff):
    username, _ = make_staff()
    here, elsewhere = signed_in(app, username), signed_in(app, username)
    token = api_token(app.test_client(), username)
    response = post_form(here, "/resetmypassword/form",
                         {"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert here.get("/customers/list/").status_code == 200, "the changing session was ended"
    assert_cookie_dead(elsewhere)
    assert_token_dead(app, token)
    assert_token_alive(app, api_token(app.test_client(), username, NEW_PASSWORD))


def test_an_admin_password_reset_ends_the_users_sessions_and_tokens(app, make_staff,
                                                                    client_as):
    username, user_id = make_staff()
    client = signed_in(app, username)
    token = api_token(app.test_client(), username)
    admin = client_as("admin")
    response = post_form(admin, f"/resetpassword/form?pk={user_id}",
                         {"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert_cookie_dead(client)
    assert_token_dead(app, token)
    assert admin.get("/users/list/").status_code == 200, "the admin's own session was ended"


def test_an_admin_password_reset_through_the_security_manager_revokes(app, make_staff):
    """The CLI's path (``flask fab reset-password`` calls the security manager)."""
    username, user_id = make_staff()
    token = api_token(app.test_client(), username)
    with app.app_context():
        app.appbuilder.sm.reset_password(user_id, NEW_PASSWORD)
    assert_token_dead(app, token)


# --- shared state -------------------------------------------------------------------------------


def test_a_revocation_made_by_another_process_counts_at_once(app, make_staff, database_url):
    """Nothing lives in one process's memory: a raise written on another connection to the
    database (as another gunicorn worker would) ends the session and token here."""
    username, user_id = make_staff()
    client = signed_in(app, username)
    token = api_token(app.test_client(), username)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE ab_user SET session_epoch = session_epoch + 1 "
                                    "WHERE id = :id"), {"id": user_id})
    finally:
        engine.dispose()
    assert_cookie_dead(client)
    assert_token_dead(app, token)


def test_other_users_sessions_are_untouched_by_a_revocation(app, make_staff):
    one, _ = make_staff()
    other, _ = make_staff()
    client_one, client_other = signed_in(app, one), signed_in(app, other)
    other_token = api_token(app.test_client(), other)
    client_one.get("/logout/")
    assert client_other.get("/customers/list/").status_code == 200
    assert_token_alive(app, other_token)


# --- CSRF: only a valid token of the same user waives it ----------------------------------------


def is_csrf_refusal(response) -> bool:
    return response.status_code == 400 and "CSRF" in (response.json or {}).get("message", "")


def forged_token(app, user_id) -> str:
    """A well-formed JWT for the user, signed with a key the app does not hold."""
    import jwt as pyjwt

    now = dt.datetime.now(dt.timezone.utc)
    return pyjwt.encode({"sub": str(user_id), "type": "access", "fresh": True,
                         "iat": now, "nbf": now, "exp": now + dt.timedelta(minutes=5),
                         "jti": secrets.token_hex(8), "crm_epoch": 0},
                        "not-the-apps-secret-key-at-all-000000", algorithm="HS256")


@pytest.mark.parametrize("kind", ["junk", "empty", "forged", "revoked", "other_user",
                                  "refresh"])
def test_a_cookie_api_write_with_an_invalid_bearer_header_still_needs_csrf(
        app, make_staff, kind):
    username, user_id = make_staff()
    client = signed_in(app, username)
    if kind == "junk":
        header = "Bearer x"
    elif kind == "empty":
        header = "Bearer "
    elif kind == "forged":
        header = f"Bearer {forged_token(app, user_id)}"
    elif kind == "revoked":
        old = api_token(app.test_client(), username)
        set_user(app, user_id, active=False)
        set_user(app, user_id, active=True)
        client = signed_in(app, username)
        header = f"Bearer {old}"
    elif kind == "other_user":
        other, _ = make_staff()
        header = f"Bearer {api_token(app.test_client(), other)}"
    else:
        response = app.test_client().post("/api/v1/security/login", json={
            "username": username, "password": PASSWORD, "provider": "db", "refresh": True})
        header = f"Bearer {response.json['refresh_token']}"
    for method in (client.post, client.put, client.delete):
        url = "/api/v1/customer/" if method is client.post else "/api/v1/customer/999999"
        response = method(url, json={}, headers={"Authorization": header})
        assert is_csrf_refusal(response), (kind, response.status_code,
                                           response.get_data(as_text=True)[:300])


def test_a_cookie_api_write_with_the_users_own_valid_token_needs_no_csrf(app, make_staff):
    username, _ = make_staff()
    client = signed_in(app, username)
    token = api_token(app.test_client(), username)
    response = client.post("/api/v1/customer/", json={}, headers=bearer(token))
    assert not is_csrf_refusal(response)
    assert response.status_code in (400, 422)


def test_the_csrf_token_still_works_beside_a_bogus_bearer_header(app, make_staff):
    username, _ = make_staff()
    client = signed_in(app, username)
    token = csrf_token(client, "/resetmypassword/form")
    response = client.post("/api/v1/customer/", json={},
                           headers={"Authorization": "Bearer x", "X-CSRFToken": token})
    assert not is_csrf_refusal(response)
