"""Logins (issue 3, item 7): lockout, the password policy and the confidentiality agreement.

Guards DESIGN pitfall 7 (FAB counts failed logins but never locks, and its password rule is
weaker than the bank's): five wrong passwords lock an account for 30 minutes through the login
form and the API alike, a locked account is refused even with the right password (in the same
words as a wrong one), the lock runs out by itself, and every failure and lockout goes to the
operation log. Passwords shorter than 12 characters or on the common-password list are refused
on every path that sets one. A member of staff who has not accepted the confidentiality
agreement (保密协议) reaches no screen and no API until they do, and admins and auditors see
the acceptance and the security-training date on the user screens.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
import sys
import types

import pytest

from tests.support.web import PASSWORD, csrf_token, login, post_form

WRONG = "Wrong-Passw0rd!9999"


@pytest.fixture
def make_staff(app, world):
    """``make_staff(role, accepted=True)``: a new member of staff of their own; returns (name, id).

    Each test locks or unlocks only users it made, so the shared test bank stays as it was.
    """

    def _make(role="RelationshipManager", accepted=True, branch="B1"):
        from backoffice.extensions import db

        username = f"lp_{secrets.token_hex(4)}"
        with app.app_context():
            sm = app.appbuilder.sm
            # A surname no catalogue msgstr equals: other tests crawl the user list in English.
            user = sm.add_user(username=username, first_name="测试", last_name="锁定",
                               email=f"{username}@example.com", role=sm.find_role(role),
                               password=PASSWORD)
            assert user, f"could not create {username}"
            user.branch_id = world.branches.get(branch)
            user.employee_no = username.upper()
            user.security_training_on = dt.date(2026, 3, 2)
            if accepted:
                user.confidentiality_accepted_at = dt.datetime(2026, 1, 5, 1, 0)
            db.session.commit()
            user_id = user.id
            db.session.remove()
        return username, user_id

    return _make


@pytest.fixture
def audit_events(monkeypatch):
    """Every ``record(...)`` call made through the operation log, as (action, kwargs)."""
    events = []

    def fake_record(action, **kwargs):
        events.append((action, kwargs))

    try:
        import backoffice.audit.log as audit_log
    except ImportError:  # the operation log not built yet: stand in for it
        audit_log = types.ModuleType("backoffice.audit.log")
        monkeypatch.setitem(sys.modules, "backoffice.audit.log", audit_log)
    monkeypatch.setattr(audit_log, "record", fake_record, raising=False)
    return events


def staff(app, user_id):
    from backoffice.extensions import db
    from models import Staff

    with app.app_context():
        user = db.session.get(Staff, user_id)
        db.session.expunge(user)
        db.session.remove()
    return user


def set_staff(app, user_id, **values):
    from backoffice.extensions import db
    from models import Staff

    with app.app_context():
        user = db.session.get(Staff, user_id)
        for name, value in values.items():
            setattr(user, name, value)
        db.session.commit()
        db.session.remove()


def now_utc():
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def form_login(app, username, password):
    """Log in through the form with a fresh client; (logged in?, flashed text)."""
    client = app.test_client()
    response = login(client, username, password)
    page = client.get("/login/").get_data(as_text=True)
    signed_in = client.get("/customers/list/").status_code == 200
    return signed_in, page, response


def api_login(client, username, password):
    return client.post("/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", "refresh": False})


# --- lockout ----------------------------------------------------------------------------------


def test_five_wrong_passwords_through_the_form_lock_the_account(app, make_staff, audit_events):
    username, user_id = make_staff()
    for attempt in range(1, 5):
        signed_in, _page, _ = form_login(app, username, WRONG)
        assert not signed_in
        assert staff(app, user_id).locked_until is None, f"locked after {attempt} failures"
    before = now_utc()
    form_login(app, username, WRONG)
    locked = staff(app, user_id).locked_until
    assert locked is not None
    assert dt.timedelta(minutes=29) < locked - before <= dt.timedelta(minutes=31)

    # The right password is refused too, in the same words as a wrong one.
    signed_in, right_page, response = form_login(app, username, PASSWORD)
    assert not signed_in and "/login" in response.location
    _, wrong_page, _ = form_login(app, username, WRONG)
    flashed = re.compile(r'class="alert[^"]*"[^>]*>(.*?)</div>', re.DOTALL)
    assert flashed.findall(right_page) == flashed.findall(wrong_page) != []

    actions = [action for action, _ in audit_events]
    assert actions.count("lockout") == 1
    assert actions.count("login_failed") == 7
    reasons = [kw["detail"]["reason"] for action, kw in audit_events if action == "login_failed"]
    assert reasons[:5] == ["wrong password"] * 5 and reasons[5:] == ["locked", "locked"]
    lockout = next(kw for action, kw in audit_events if action == "lockout")
    assert lockout["entity"] == "Staff" and lockout["entity_id"] == user_id


def test_the_api_login_counts_and_obeys_the_same_lock(app, client, make_staff, audit_events):
    username, user_id = make_staff()
    for _ in range(5):
        assert api_login(client, username, WRONG).status_code == 401
    assert staff(app, user_id).locked_until is not None
    assert api_login(client, username, PASSWORD).status_code == 401
    signed_in, _page, _ = form_login(app, username, PASSWORD)
    assert not signed_in, "a lock set through the API holds on the form"
    assert [a for a, _ in audit_events].count("lockout") == 1


def test_a_lock_runs_out_and_the_count_starts_again(app, client, make_staff):
    username, user_id = make_staff()
    for _ in range(5):
        api_login(client, username, WRONG)
    # Thirty minutes later (the clock is moved by moving the lock, not by sleeping).
    set_staff(app, user_id, locked_until=now_utc() - dt.timedelta(seconds=1))
    assert api_login(client, username, PASSWORD).status_code == 200
    user = staff(app, user_id)
    assert user.locked_until is None and user.fail_login_count == 0
    for _ in range(4):
        api_login(client, username, WRONG)
    assert staff(app, user_id).locked_until is None


def test_an_expired_lock_gives_fresh_attempts_even_after_wrong_passwords(app, client,
                                                                          make_staff):
    username, user_id = make_staff()
    set_staff(app, user_id, fail_login_count=5,
              locked_until=now_utc() - dt.timedelta(minutes=1))
    api_login(client, username, WRONG)
    user = staff(app, user_id)
    assert user.locked_until is None and user.fail_login_count == 1


def test_a_success_resets_the_failure_count(app, client, make_staff):
    username, user_id = make_staff()
    for _ in range(4):
        api_login(client, username, WRONG)
    assert api_login(client, username, PASSWORD).status_code == 200
    assert staff(app, user_id).fail_login_count == 0
    for _ in range(4):
        api_login(client, username, WRONG)
    assert staff(app, user_id).locked_until is None


def test_failures_from_parallel_processes_all_count(app, make_staff):
    """Another worker's failures, made while this one held a stale copy, are not overwritten."""
    from sqlalchemy import text

    from backoffice.extensions import db
    from models import Staff

    _username, user_id = make_staff()
    with app.app_context():
        stale = db.session.get(Staff, user_id)
        assert not stale.fail_login_count
        with db.engine.begin() as other_process:
            other_process.execute(text("UPDATE ab_user SET fail_login_count = 3 WHERE id = :id"),
                                  {"id": user_id})
        app.appbuilder.sm.update_user_auth_stat(stale, False)
        db.session.remove()
    assert staff(app, user_id).fail_login_count == 4


def test_limits_are_configurable(app, client, make_staff, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_LOGIN_MAX_FAILURES", 2)
    monkeypatch.setitem(app.config, "CRM_LOCKOUT_MINUTES", 5)
    username, user_id = make_staff()
    api_login(client, username, WRONG)
    assert staff(app, user_id).locked_until is None
    before = now_utc()
    api_login(client, username, WRONG)
    locked = staff(app, user_id).locked_until
    assert locked is not None and locked - before <= dt.timedelta(minutes=5, seconds=5)


def test_unknown_usernames_are_logged_and_lock_nobody(client, audit_events):
    assert api_login(client, "no-such-user", WRONG).status_code == 401
    failed = [kw for action, kw in audit_events if action == "login_failed"]
    assert len(failed) == 1 and failed[0]["actor"] == "no-such-user"
    assert failed[0]["detail"]["username"] == "no-such-user"


def test_an_admin_can_unlock_an_account(app, client_as, make_staff, audit_events):
    username, user_id = make_staff()
    set_staff(app, user_id, fail_login_count=5,
              locked_until=now_utc() + dt.timedelta(minutes=30))
    admin = client_as("admin")
    token = csrf_token(admin, "/resetmypassword/form")
    response = admin.post(f"/users/action/unlock/{user_id}", data={"csrf_token": token})
    assert response.status_code == 302
    user = staff(app, user_id)
    assert user.locked_until is None and user.fail_login_count == 0
    assert "user_unlocked" in [a for a, _ in audit_events]
    signed_in, _page, _ = form_login(app, username, PASSWORD)
    assert signed_in


def test_only_admins_may_unlock(app, client_as, make_staff):
    _username, user_id = make_staff()
    set_staff(app, user_id, locked_until=now_utc() + dt.timedelta(minutes=30))
    auditor = client_as("auditor")
    token = csrf_token(auditor, "/resetmypassword/form")
    auditor.post(f"/users/action/unlock/{user_id}", data={"csrf_token": token})
    assert staff(app, user_id).locked_until is not None


# --- password policy --------------------------------------------------------------------------


@pytest.mark.parametrize("password", [
    "Test-Passw0rd!2026",  # the tests' password
    "Demo-Passw0rd!2026",  # the demo bank's password
    "雨后青山-Harbour-42",
    "correct horse battery staple",
])
def test_good_passwords_pass(password):
    from backoffice.security.passwords import password_problems

    assert password_problems(password) == []


@pytest.mark.parametrize("password, words", [
    ("Short-1!", "at least 12 characters"),
    ("", "at least 12 characters"),
    ("qwerty123456", "commonly used"),
    ("1qaz2wsx3edc", "commonly used"),
    ("Password1234!", "commonly used"),  # a listed password with digits and a symbol added
    ("P@ssw0rd2026!", "commonly used"),  # l33t spelling
    ("woaini13145200", "commonly used"),
    ("qwertyuiopasdf", "too easy to guess"),  # a keyboard row
    ("Aa123456789!", "too easy to guess"),
])
def test_short_and_common_passwords_are_refused_with_a_reason(password, words):
    from backoffice.security.passwords import password_problems

    problems = password_problems(password)
    assert problems and words in " ".join(problems), problems


def test_generated_admin_passwords_meet_the_policy():
    from backoffice.security.passwords import password_problems
    from backoffice.security.seeding import generate_password

    assert all(password_problems(generate_password()) == [] for _ in range(20))


def test_the_add_user_form_refuses_a_weak_password(app, client_as, world):
    from backoffice.extensions import db
    from models import Staff

    admin = client_as("admin")
    username = f"weak_{secrets.token_hex(3)}"
    response = post_form(admin, "/users/add", {
        "first_name": "弱", "last_name": "密码弱", "username": username, "active": "y",
        "email": f"{username}@example.com", "roles": str(world_role_id(app, "Teller")),
        "password": "password1234", "conf_password": "password1234",
    })
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "commonly used" in body or "常用" in body
    with app.app_context():
        assert db.session.query(Staff).filter_by(username=username).count() == 0
        db.session.remove()


def world_role_id(app, name):
    with app.app_context():
        return app.appbuilder.sm.find_role(name).id


def test_the_reset_password_form_refuses_a_short_password(app, client_as, make_staff):
    username, _user_id = make_staff()
    client = app.test_client()
    assert login(client, username).status_code == 302
    response = post_form(client, "/resetmypassword/form",
                         {"password": "Sh0rt!pw", "conf_password": "Sh0rt!pw"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "密码至少需要 12 个字符" in body or "at least 12 characters" in body
    signed_in, _page, _ = form_login(app, username, PASSWORD)
    assert signed_in, "the old password still works: nothing was changed"


def test_a_password_change_is_dated(app, make_staff):
    username, user_id = make_staff()
    client = app.test_client()
    login(client, username)
    new_password = "Lantern-Orchard-7391"
    response = post_form(client, "/resetmypassword/form",
                         {"password": new_password, "conf_password": new_password})
    assert response.status_code == 302
    changed = staff(app, user_id).password_changed_at
    assert changed is not None and now_utc() - changed < dt.timedelta(minutes=1)


def test_the_security_manager_refuses_weak_passwords_on_every_path(app):
    from backoffice.security.passwords import WeakPassword

    with app.app_context():
        sm = app.appbuilder.sm
        with pytest.raises(WeakPassword):
            sm.add_user(username="weakling", first_name="a", last_name="b",
                        email="weakling@example.com", role=sm.find_role("Teller"),
                        password="abc123")
        assert sm.find_user(username="weakling") is None


def test_crm_init_refuses_a_weak_admin_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "init", "--admin-username", "admin2",
                                 "--admin-password", "admin123"])
    assert result.exit_code != 0
    assert "密码至少需要 12 个字符" in result.output or "at least 12 characters" in result.output
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="admin2") is None


# --- confidentiality agreement ----------------------------------------------------------------


def test_first_login_leads_to_the_agreement_then_the_screens_open(app, make_staff,
                                                                  audit_events):
    username, user_id = make_staff(accepted=False)
    client = app.test_client()
    assert login(client, username).status_code == 302

    response = client.get("/customers/list/")
    assert response.status_code == 302
    assert response.location.startswith("/agreement/")
    page = client.get(response.location)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "保密协议" in body  # Chinese by default

    # Not ticking the box, or no CSRF token, records nothing.
    refused = post_form(client, "/agreement/", {"next": "/customers/list/"})
    assert refused.status_code == 200
    no_token = client.post("/agreement/", data={"accept": "yes"})
    assert no_token.status_code == 400
    assert staff(app, user_id).confidentiality_accepted_at is None

    before = now_utc()
    accepted = post_form(client, "/agreement/", {"accept": "yes", "next": "/customers/list/"})
    assert accepted.status_code == 302 and accepted.location.endswith("/customers/list/")
    when = staff(app, user_id).confidentiality_accepted_at
    assert when is not None and before - dt.timedelta(seconds=1) <= when <= now_utc()
    assert client.get("/customers/list/").status_code == 200
    recorded = [kw for action, kw in audit_events if action == "agreement_accepted"]
    assert len(recorded) == 1 and recorded[0]["entity_id"] == user_id
    assert recorded[0]["detail"]["version"]

    # Seen again later: the text and the date, no form.
    again = client.get("/agreement/").get_data(as_text=True)
    assert 'id="agreement-accepted"' in again and 'id="agreement-form"' not in again


def test_every_screen_waits_for_the_agreement(app, make_staff):
    username, _ = make_staff(accepted=False)
    client = app.test_client()
    login(client, username)
    for url in ("/", "/customers/list/", "/interactions/list/", "/users/userinfo/"):
        response = client.get(url)
        assert response.status_code == 302 and "/agreement/" in response.location, url
    assert client.get("/lang/en").status_code == 302  # the language switch still works
    assert client.get("/logout/").status_code == 302


def test_the_api_refuses_a_user_who_has_not_accepted(app, client, make_staff):
    username, user_id = make_staff(accepted=False)
    token = api_login(client, username, PASSWORD).json["access_token"]
    response = client.get("/api/v1/customer/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "agreement" in response.json["message"] or "保密协议" in response.json["message"]
    set_staff(app, user_id, confidentiality_accepted_at=now_utc())
    response = client.get("/api/v1/customer/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("viewer", ["admin", "auditor"])
def test_admins_and_auditors_see_agreement_and_training(app, client_as, make_staff, viewer):
    _username, user_id = make_staff(accepted=True)
    _newcomer, newcomer_id = make_staff(accepted=False)
    client = client_as(viewer)
    listing = client.get("/users/list/").get_data(as_text=True)
    assert "保密协议接受时间" in listing and "安全培训日期" in listing  # the list's columns
    shown = client.get(f"/users/show/{user_id}")
    assert shown.status_code == 200
    body = shown.get_data(as_text=True)
    assert "2026-03-02" in body  # security training date
    assert "2026-01-05 09:00" in body  # accepted at 01:00 UTC, shown in Asia/Shanghai
    assert "尚未接受" in client.get(f"/users/show/{newcomer_id}").get_data(as_text=True)


@pytest.mark.parametrize("viewer", ["rm1", "teller1", "operator"])
def test_other_roles_do_not_see_the_staff_list(client_as, viewer):
    assert client_as(viewer).get("/users/list/").status_code != 200


def test_auditors_cannot_change_users(app, client_as, make_staff):
    _username, user_id = make_staff()
    auditor = client_as("auditor")
    assert auditor.get(f"/users/edit/{user_id}").status_code != 200
    assert auditor.get("/users/add").status_code != 200
