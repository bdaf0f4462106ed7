"""The bell and "My notifications": every role, only one's own rows, read state, filters."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, select

from backoffice.extensions import db
from models.notifications import Notification
from tests.support.web import csrf_token
from tests.support.world import STAFF

ROLES = sorted({role for role, _branch in STAFF.values()})


def _row_ids(html: str) -> list[int]:
    return [int(value) for value in re.findall(r'class="crm-notification[^"]*" data-id="(\d+)"',
                                               html)]


def _bell(html: str) -> str | None:
    found = re.search(r'id="crm-bell-count">([^<]+)<', html)
    return found.group(1) if found else None


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_the_bell_and_the_page_with_only_its_own_rows(role, make_staff, logged_in,
                                                                   raise_notice):
    me, username = make_staff(role, "B1")
    other, _ = make_staff(role, "B1")
    mine = raise_notice([me], "rule", _l("Rule notification %(n)s", n="mine-7731"))
    theirs = raise_notice([other], "rule", _l("Rule notification %(n)s", n="theirs-7731"))
    client = logged_in(username)
    home = client.get("/notifications/")
    assert home.status_code == 200
    html = home.get_data(as_text=True)
    assert _bell(html) == "1"
    assert _row_ids(html) == mine
    assert "mine-7731" in html and "theirs-7731" not in html
    # Someone else's notification does not exist for me: 404, and it stays unread.
    assert client.get(f"/notifications/open/{theirs[0]}").status_code == 404
    with client.application.app_context():
        assert db.session.get(Notification, theirs[0]).read_at is None
        db.session.remove()


def test_no_bell_for_anonymous_visitors(client):
    page = client.get("/login/")
    assert page.status_code == 200
    assert 'id="crm-bell"' not in page.get_data(as_text=True)


def test_bell_counts_unread_and_caps_at_99(make_staff, logged_in, raise_notice):
    me, username = make_staff("Teller", "B1")
    client = logged_in(username)
    html = client.get("/notifications/").get_data(as_text=True)
    assert 'id="crm-bell"' in html and _bell(html) is None  # nothing unread: no badge
    raise_notice([me], "rule", _l("Rule fired"))
    raise_notice([me], "rule", _l("Rule fired"))
    assert _bell(client.get("/notifications/").get_data(as_text=True)) == "2"
    for _ in range(99):
        raise_notice([me], "rule", "x")
    assert _bell(client.get("/notifications/").get_data(as_text=True)) == "99+"


def test_the_bell_costs_one_query_per_page(app, make_staff, logged_in, raise_notice):
    """The navigation bar adds one bounded count over the recipient's index to every page, and
    nothing else (the list and 360 pages are tuned for server CPU)."""
    me, username = make_staff("RelationshipManager", "B1")
    raise_notice([me], "rule", _l("Rule fired"))
    client = logged_in(username)
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        page = client.get("/customers/list/")
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert page.status_code == 200 and _bell(page.get_data(as_text=True)) == "1"
    touching = [s for s in statements if re.search(r"\bnotification\b", s)]
    assert len(touching) == 1, touching
    assert "recipient_id" in touching[0] and "read_at" in touching[0]


def test_opening_marks_read_and_goes_to_the_link(app, make_staff, logged_in, raise_notice):
    me, username = make_staff("RelationshipManager", "B1")
    [first] = raise_notice([me], "import_finished", _l("Import finished"),
                           link="/imports/batch/1")
    [second] = raise_notice([me], "rule", _l("Rule fired"), link="https://evil.example/")
    client = logged_in(username)
    html = client.get("/notifications/").get_data(as_text=True)
    assert html.count("crm-unread") == 2
    opened = client.get(f"/notifications/open/{first}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/imports/batch/1")
    # A link that leaves the application is not followed (back to the list instead).
    outside = client.get(f"/notifications/open/{second}")
    assert outside.status_code == 302 and "evil.example" not in outside.headers["Location"]
    with app.app_context():
        assert db.session.get(Notification, first).read_at is not None
        assert db.session.get(Notification, second).read_at is not None
        db.session.remove()
    html = client.get("/notifications/").get_data(as_text=True)
    assert "crm-unread" not in html and _bell(html) is None


def test_mark_all_read_and_filter_by_kind_with_labels(app, make_staff, logged_in, raise_notice):
    me, username = make_staff("BranchManager", "B1")
    [task] = raise_notice([me], "task_assigned", _l("Task for you"))
    [rule] = raise_notice([me], "rule", _l("Rule fired"))
    client = logged_in(username, "en")
    filtered = client.get("/notifications/?kind=task_assigned").get_data(as_text=True)
    assert _row_ids(filtered) == [task]
    assert "Task assigned" in filtered  # the kind's label, not its code
    assert ">task_assigned<" not in filtered
    # Mark all read within the filter: only that kind.
    token = csrf_token(client, "/notifications/")
    done = client.post("/notifications/read-all", data={"csrf_token": token,
                                                        "kind": "task_assigned"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(Notification, task).read_at is not None
        assert db.session.get(Notification, rule).read_at is None
        db.session.remove()
    client.post("/notifications/read-all", data={"csrf_token": token})
    with app.app_context():
        assert db.session.scalars(select(Notification.id).where(
            Notification.recipient_id == me, Notification.read_at.is_(None))).all() == []
        db.session.remove()
    # Without the CSRF token nothing is marked.
    [later] = raise_notice([me], "rule", _l("Rule fired"))
    assert client.post("/notifications/read-all", data={}).status_code in (400, 302)
    with app.app_context():
        assert db.session.get(Notification, later).read_at is None
        db.session.remove()


def test_times_are_shown_in_the_display_zone(app, make_staff, logged_in, raise_notice):
    me, username = make_staff("Teller", "B1")
    [notice] = raise_notice([me], "rule", _l("Rule fired"))
    with app.app_context():
        db.session.get(Notification, notice).created_at = dt.datetime(2026, 3, 1, 17, 30)
        db.session.commit()
        db.session.remove()
    html = logged_in(username).get("/notifications/").get_data(as_text=True)
    assert "2026-03-02 01:30" in html  # Asia/Shanghai, UTC+8


def test_digest_setting_is_saved_and_checked(app, make_staff, logged_in):
    from models.notifications import NotificationPreference

    me, username = make_staff("RelationshipManager", "B1")
    client = logged_in(username, "en")
    page = client.get("/notifications/settings")
    assert page.status_code == 200 and "Daily e-mail digest" in page.get_data(as_text=True)
    token = csrf_token(client, "/notifications/settings")
    bad = client.post("/notifications/settings", data={"csrf_token": token, "digest": "daily",
                                                       "digest_time": "25:99"})
    assert bad.status_code == 200 and "HH:MM" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(NotificationPreference, me) is None
        db.session.remove()
    good = client.post("/notifications/settings", data={"csrf_token": token, "digest": "daily",
                                                        "digest_time": "07:30"})
    assert good.status_code == 302
    with app.app_context():
        saved = db.session.get(NotificationPreference, me)
        assert (saved.digest, saved.digest_time, saved.language) == (
            "daily", dt.time(7, 30), "en")
        db.session.remove()
