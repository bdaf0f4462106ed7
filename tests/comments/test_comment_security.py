"""Who meets a comment: markers planted in comments on records of branch B2 (customer
``c_rm3``, its task, a change request about it) and on a campaign are looked for as every
seeded member of staff, on every path that could carry them: the record pages and the 360
tab, the comment routes (add, edit, delete), the name lookup, the customer search, the
operation log and the notifications of mentioned colleagues.

Expectations are not written per role: a comment goes with its record, so each user meets it
exactly when the world's scope table (``VISIBLE``) gives them the customer and their roles grant
``can_read`` on the record's view and on ``Comment`` (``has_permission``, never a role name);
the operation log follows ``policy.log_read_access``.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from tests.comments.conftest import add, delete, edit, flashes, marker, notifications_of
from tests.support.web import login
from tests.support.world import CUSTOMERS, STAFF, VISIBLE

CUSTOMER = "c_rm3"  # branch B2, owned by rm3
AUTHOR = "rm3"  # who plants the markers
CUSTOMER_PLACES = {"customer": "Customer", "follow_up": "FollowUp",
                   "change_request": "ChangeRequest"}


def _user(app, username):
    from backoffice.extensions import db
    from models import Staff

    return db.session.scalar(select(Staff).where(Staff.username == username))


def may_read(app, username, place, view) -> bool:
    from backoffice.extensions import db
    from backoffice.security.permissions import has_permission

    with app.app_context():
        user = _user(app, username)
        allowed = has_permission(user, "can_read", view) \
            and has_permission(user, "can_read", "Comment")
        db.session.remove()
    if place == "campaign":
        return allowed
    return allowed and CUSTOMER in VISIBLE[username]


def may_write(app, username) -> bool:
    from backoffice.extensions import db
    from backoffice.security.permissions import has_permission

    with app.app_context():
        allowed = has_permission(_user(app, username), "can_write", "Comment")
        db.session.remove()
    return allowed


@pytest.fixture(scope="module")
def planted(app, world):
    """One marked comment per place, by someone who may write there; returns
    {place: (record id, marker, comment id, page url)}. The comments are removed after the
    module (the change request and campaign, the module's own, stay)."""
    from backoffice.extensions import db
    from models import Campaign, ChangeRequest, Customer, crypto
    from models.comments import Comment

    with app.app_context():
        customer = db.session.get(Customer, world.customers[CUSTOMER])
        change = ChangeRequest(kind="update", status="pending", branch_id=customer.branch_id,
                               maker_id=world.staff["rm3"], customer_id=customer.id,
                               base_version=customer.version, record_uid=crypto.new_record_uid())
        change.values = {"occupation": marker("职业")}
        campaign = Campaign(name=marker("安全活动"), status="draft",
                            product_id=world.product_id, channels=["phone"])
        db.session.add_all([change, campaign])
        db.session.commit()
        records = {"customer": customer.id, "follow_up": world.follow_ups[CUSTOMER],
                   "change_request": change.id, "campaign": campaign.id}
        db.session.remove()
    pages = {"customer": "/customers/show/{}/tab/comments", "follow_up": "/followups/show/{}",
             "change_request": "/review/show/{}", "campaign": "/campaigns/show/{}"}
    client = app.test_client()
    login(client, AUTHOR)
    result = {}
    for place, pk in records.items():
        text = marker(f"秘密{place}")
        assert add(client, place, pk, f"{text} 请周五前回电").status_code == 302
        with app.app_context():
            comment_id = db.session.scalar(select(Comment.id).where(
                Comment.body.contains(text)).execution_options(crm_unscoped=True))
            db.session.remove()
        assert comment_id, place
        result[place] = (pk, text, comment_id, pages[place].format(pk))
    yield result
    from sqlalchemy import delete as delete_rows

    with app.app_context():
        db.session.execute(delete_rows(Comment).where(
            Comment.id.in_([row[2] for row in result.values()])),
            execution_options={"crm_unscoped": True})
        db.session.commit()
        db.session.remove()


def _view(place):
    return CUSTOMER_PLACES.get(place, "Campaign")


@pytest.mark.parametrize("username", sorted(STAFF))
def test_each_role_meets_the_planted_comments_exactly_as_the_policy_says(
        app, world, planted, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    for place, (pk, text, comment_id, url) in planted.items():
        expected = may_read(app, username, place, _view(place))
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert (text in body) is expected, (username, place, response.status_code)
        if expected:
            assert response.status_code == 200
        # A thread holds its own record's comments only: the other records' pages this user
        # may open (every customer's tab and task) never show this marker.
        for key in CUSTOMERS:
            for other in (f"/customers/show/{world.customers[key]}/tab/comments",
                          f"/followups/show/{world.follow_ups[key]}"):
                if other != url:
                    assert text not in client.get(other).get_data(as_text=True), (username,
                                                                                   other)
        if place == "customer":  # the 360 page itself carries no thread until the tab opens
            page = client.get(f"/customers/show/{pk}").get_data(as_text=True)
            assert text not in page
            assert ('href="#tab-comments"' in page) is expected


@pytest.mark.parametrize("username", sorted(STAFF))
def test_nobody_outside_a_record_posts_edits_or_deletes_on_it(app, world, planted, username):
    """Outside the record (or without the grant) every comment route answers 404 and changes
    nothing: never a message that would confirm the record or the comment exists."""
    from backoffice.extensions import db
    from models.comments import Comment

    client = app.test_client()
    login(client, username)
    client.get("/lang/en")  # the refusal is quoted in English below
    for place, (pk, text, comment_id, _url) in planted.items():
        readable = may_read(app, username, place, _view(place))
        attempt = marker("闯入")
        responses = [add(client, place, pk, attempt)]
        if username != AUTHOR:  # the author's own edits are tested in test_comments.py
            responses += [edit(client, comment_id, attempt), delete(client, comment_id)]
        with app.app_context():
            stored = db.session.scalars(select(Comment).where(Comment.id == comment_id)
                                        .execution_options(crm_unscoped=True)).one()
            added = db.session.scalar(select(func.count()).select_from(Comment).where(
                Comment.body.contains(attempt)).execution_options(crm_unscoped=True))
            assert text in stored.body and stored.deleted_at is None and stored.edited_at is None
            db.session.remove()
        if readable and may_write(app, username):
            assert added == 1, (username, place)  # their own comment: posted
            if username != AUTHOR:  # the author's comment: refused, with a reason
                assert "only your own" in flashes(client)
        else:
            assert added == 0, (username, place)
            assert {r.status_code for r in responses} == {404}, (username, place)


@pytest.mark.parametrize("username", sorted(STAFF))
def test_the_name_lookup_and_the_search_carry_no_comment(app, world, planted, username):
    client = app.test_client()
    login(client, username)
    customer_name = f"客户{CUSTOMER}"
    answer = client.get("/comments/staff?q=rm")
    if may_write(app, username):
        assert answer.status_code == 200 and answer.json["staff"]
        assert {key for row in answer.json["staff"] for key in row} == {"id", "name", "username"}
    else:
        assert answer.status_code in (302, 403, 404)
    for _place, (_pk, text, _comment_id, _url) in planted.items():
        assert text not in answer.get_data(as_text=True)
        found = client.get(f"/customers/search/?q={text}")
        assert text not in found.get_data(as_text=True)
    assert customer_name not in answer.get_data(as_text=True)


@pytest.mark.parametrize("username", sorted(STAFF))
def test_the_operation_log_shows_comment_text_as_the_log_policy_says(
        app, world, planted, username):
    from backoffice.extensions import db
    from backoffice.security.policy import Read, log_read_access, viewer_for
    from models import AuditLog

    _pk, text, comment_id, _url = planted["customer"]
    with app.app_context():
        row_id = db.session.scalar(select(AuditLog.id).where(
            AuditLog.action == "comment_add", AuditLog.detail.contains(text)))
        user = _user(app, username)
        with app.test_request_context():
            readable = log_read_access("Customer", "body", viewer_for(user)) is not Read.HIDDEN
        from backoffice.security.permissions import has_permission

        reads_log = has_permission(user, "can_read", "AuditLog")
        db.session.remove()
    assert row_id
    client = app.test_client()
    login(client, username)
    shown = client.get(f"/auditlog/show/{row_id}").get_data(as_text=True)
    assert (text in shown) is (reads_log and readable), username


# --- mentions across scopes ------------------------------------------------------------------


def _since(app):
    from tests.comments.conftest import last_notification_id

    return last_notification_id(app)


def test_a_colleague_who_cannot_see_the_customer_learns_only_that_they_were_mentioned(
        app, client_as, world):
    """rm1 (branch B1) mentions bm1 (sees rm1's customer) and rm3 (branch B2, does not)."""
    since = _since(app)
    rm1 = client_as("rm1")
    text = marker()
    customer = world.customers["c_rm1"]
    response = add(rm1, "customer", customer, f"@测试bm1 @测试rm3 {text} 请周五前回电")
    assert response.status_code == 302
    told = flashes(rm1)
    assert "测试rm3 cannot see this record" in told and "测试bm1 cannot" not in told
    [(kind, message, link, about)] = notifications_of(app, world.staff["bm1"], since)
    assert kind == "mention" and text in message and "测试rm1" in message
    assert link.startswith(f"/customers/show/{customer}") and about == customer
    [(kind, message, link, about)] = notifications_of(app, world.staff["rm3"], since)
    assert kind == "mention_hidden" and "测试rm1" in message
    assert text not in message and "回电" not in message
    for secret in ("客户c_rm1", "T000000001"):  # the customer's name and number
        assert secret not in message
    assert link == "" and about is None
    # Their notifications page says the same, and the link takes them nowhere.
    page = client_as("rm3").get("/notifications/")
    if page.status_code == 200:
        html = page.get_data(as_text=True)
        assert text not in html and "客户c_rm1" not in html
    # The comment still records both as mentioned (the author meant them).
    from tests.comments.conftest import comment_with

    assert set(comment_with(app, text).mentioned_ids) == {world.staff["bm1"], world.staff["rm3"]}


@pytest.mark.parametrize("username", sorted(set(STAFF) - {"senior"}))
def test_every_role_mentioned_on_a_customer_gets_what_their_scope_allows(
        app, client_as, world, username):
    """senior mentions each colleague on c_rm3's task (branch B2): those who may read it are
    sent the text; the others, whatever the reason (branch, book, role), only that they were
    named."""
    since = _since(app)
    text = marker()
    senior = client_as("senior")
    add(senior, "follow_up", world.follow_ups[CUSTOMER], f"@{username} {text}")
    told = flashes(senior)
    notes = notifications_of(app, world.staff[username], since)
    from backoffice.extensions import db
    from models import Staff

    with app.app_context():
        name = db.session.get(Staff, world.staff[username])
        from backoffice.comments.mentions import staff_name

        name = staff_name(name)
        db.session.remove()
    if may_read(app, username, "follow_up", "FollowUp"):
        assert [n[0] for n in notes] == ["mention"] and text in notes[0][1]
        assert f"{name} cannot see" not in told
    else:
        assert [n[0] for n in notes] == ["mention_hidden"]
        assert text not in notes[0][1] and notes[0][2] == "" and notes[0][3] is None
        assert f"{name} cannot see this record" in told


def test_a_mention_on_a_campaign_follows_the_campaign_permission(app, client_as, world,
                                                                 campaign):
    """Campaigns have no customer: who may read campaigns decides (tellers may not)."""
    since = _since(app)
    text = marker()
    bm1 = client_as("bm1")
    add(bm1, "campaign", campaign, f"@rm3 @teller1 {text}")
    [(kind, message, _link, _about)] = notifications_of(app, world.staff["rm3"], since)
    assert kind == "mention" and text in message
    [(kind, message, link, _about)] = notifications_of(app, world.staff["teller1"], since)
    assert kind == "mention_hidden" and text not in message and link == ""
    assert "测试teller1 cannot see this record" in flashes(bm1)


def test_an_edit_notifies_only_colleagues_it_newly_mentions(app, client_as, world):
    from tests.comments.conftest import comment_with

    rm1 = client_as("rm1")
    text = marker()
    add(rm1, "customer", world.customers["c_rm1"], f"@bm1 {text}")
    comment = comment_with(app, text)
    since = _since(app)
    edit(rm1, comment.id, f"@bm1 @rm3 {text} 补充")
    assert notifications_of(app, world.staff["bm1"], since) == []
    [(kind, message, _link, _about)] = notifications_of(app, world.staff["rm3"], since)
    assert kind == "mention_hidden" and text not in message
    assert "cannot see this record" in flashes(rm1)


def test_a_mention_of_oneself_notifies_nobody(app, client_as, world):
    since = _since(app)
    rm1 = client_as("rm1")
    add(rm1, "customer", world.customers["c_rm1"], f"@rm1 {marker()}")
    assert notifications_of(app, world.staff["rm1"], since) == []


def test_markers_never_reach_the_hidden_recipients_rows(app, client_as, world):
    """The hidden notice is stored without text, link or customer: nothing to leak later."""
    from backoffice.extensions import db
    from models.notifications import Notification

    since = _since(app)
    text = marker()
    add(client_as("rm2"), "customer", world.customers["c_rm2"], f"@rm3 {text} {uuid.uuid4()}")
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(
            Notification.id > since, Notification.recipient_id == world.staff["rm3"])).all()
        assert [r.kind for r in rows] == ["mention_hidden"]
        stored = " ".join(str(getattr(rows[0], c.key)) for c in Notification.__table__.columns)
        assert text not in stored and str(world.customers["c_rm2"]) not in (
            rows[0].link or "") and rows[0].customer_id is None and rows[0].entity_id is None
        db.session.remove()
    assert CUSTOMERS["c_rm2"][0] == "rm2"
