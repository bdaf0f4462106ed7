"""Comments on each place: posting, editing and deleting one's own inside the window, the
refusals with their messages, the operation log's rows, and the names offered after ``@``."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from tests.comments.conftest import add, comment_with, delete, edit, flashes, marker


def page_of(place, pk):
    return {"customer": f"/customers/show/{pk}/tab/comments",
            "follow_up": f"/followups/show/{pk}",
            "change_request": f"/review/show/{pk}",
            "campaign": f"/campaigns/show/{pk}"}[place]


@pytest.fixture
def record_of(world, change_request, campaign):
    """The id of a record of ``place`` that rm1 may read (their own customer's)."""
    def make(place):
        return {"customer": lambda: world.customers["c_rm1"],
                "follow_up": lambda: world.follow_ups["c_rm1"],
                "change_request": lambda: change_request("c_rm1"),
                "campaign": lambda: campaign}[place]()
    return make


PLACES = ["customer", "follow_up", "change_request", "campaign"]


@pytest.mark.parametrize("place", PLACES)
def test_a_comment_shows_on_its_record_page(client_as, record_of, place):
    rm1 = client_as("rm1")
    pk = record_of(place)
    text = marker()
    page = rm1.get(page_of(place, pk)).get_data(as_text=True)
    assert 'id="comment-add-form"' in page and 'data-mention-url="/comments/staff"' in page
    response = add(rm1, place, pk, f"{text} 请周五前回电")
    assert response.status_code == 302
    assert response.headers["Location"].split("#")[1] in ("tab-comments", "comments")
    assert "posted" in flashes(rm1)
    page = rm1.get(page_of(place, pk)).get_data(as_text=True)
    assert f"{text} 请周五前回电" in page
    assert "测试rm1" in page  # the author, family name first


def test_the_360_page_has_a_comments_tab_and_the_suggestion_script(client_as, world):
    page = client_as("rm1").get(f"/customers/show/{world.customers['c_rm1']}")
    html = page.get_data(as_text=True)
    assert 'href="#tab-comments"' in html
    assert "/customers/show/%d/tab/comments" % world.customers["c_rm1"] in html
    assert 'src="/static/crm-comments.js"' in html and "nonce=" in html


def test_a_comment_on_another_record_stays_there(client_as, world):
    rm1 = client_as("rm1")
    text = marker()
    add(rm1, "follow_up", world.follow_ups["c_rm1"], text)
    assert text not in rm1.get(page_of("customer", world.customers["c_rm1"])).get_data(
        as_text=True)


def test_the_author_edits_and_deletes_inside_the_window(app, client_as, world):
    rm1 = client_as("rm1")
    pk = world.customers["c_rm1"]
    first, second = marker(), marker()
    add(rm1, "customer", pk, first)
    comment = comment_with(app, first)
    assert edit(rm1, comment.id, second).status_code == 302
    assert "changed" in flashes(rm1)
    page = rm1.get(page_of("customer", pk)).get_data(as_text=True)
    assert second in page and first not in page and "crm-comment-edited" in page
    assert delete(rm1, comment.id).status_code == 302
    page = rm1.get(page_of("customer", pk)).get_data(as_text=True)
    assert second not in page and f'id="comment-{comment.id}"' in page
    assert "crm-comment-deleted" in page
    # The row stays (the thread says when it was deleted); its text and mentions do not.
    from backoffice.extensions import db
    from models.comments import Comment

    with app.app_context():
        row = db.session.get(Comment, comment.id)
        assert row.body == "" and row.deleted_at is not None and row.mentioned_ids == []
        db.session.remove()
    # A deleted comment cannot be edited back.
    edit(rm1, comment.id, marker())
    assert "deleted" in flashes(rm1)


def test_only_the_author_may_change_a_comment(app, client_as, world):
    """bm1 reads rm1's customer and the thread, but rm1's comment is rm1's."""
    rm1, bm1 = client_as("rm1"), client_as("bm1")
    text = marker()
    add(rm1, "customer", world.customers["c_rm1"], text)
    comment = comment_with(app, text)
    page = bm1.get(page_of("customer", world.customers["c_rm1"])).get_data(as_text=True)
    assert text in page and f'/comments/edit/{comment.id}' not in page
    for attempt in (lambda: edit(bm1, comment.id, marker()), lambda: delete(bm1, comment.id)):
        response = attempt()
        assert response.status_code == 302
        assert "only your own" in flashes(bm1)
        bm1.get("/")  # the message shown, the next one starts afresh
    assert comment_with(app, text).deleted_at is None


def _age(app, comment_id, minutes):
    from backoffice.extensions import db
    from models.base import utcnow
    from models.comments import Comment

    with app.app_context():
        db.session.execute(update(Comment).where(Comment.id == comment_id).values(
            created_at=utcnow() - dt.timedelta(minutes=minutes)),
            execution_options={"crm_unscoped": True})
        db.session.commit()
        db.session.remove()


def test_after_the_window_changes_are_refused_with_the_reason(app, client_as, world):
    rm1 = client_as("rm1")
    pk = world.customers["c_rm1"]
    text = marker()
    add(rm1, "customer", pk, text)
    comment = comment_with(app, text)
    _age(app, comment.id, app.config["CRM_COMMENT_EDIT_MINUTES"] + 1)
    page = rm1.get(page_of("customer", pk)).get_data(as_text=True)
    assert text in page and f"/comments/edit/{comment.id}" not in page
    edit(rm1, comment.id, marker())
    message = flashes(rm1)
    assert "within %d minutes" % app.config["CRM_COMMENT_EDIT_MINUTES"] in message
    rm1.get("/")
    delete(rm1, comment.id)
    assert "no longer be changed" in flashes(rm1)
    row = comment_with(app, text)
    assert row.body == text and row.deleted_at is None and row.edited_at is None


def test_the_window_is_the_setting(app, client_as, world):
    rm1 = client_as("rm1")
    text = marker()
    add(rm1, "customer", world.customers["c_rm1"], text)
    comment = comment_with(app, text)
    _age(app, comment.id, 30)
    app.config["CRM_COMMENT_EDIT_MINUTES"] = 60
    assert edit(rm1, comment.id, text + "改").status_code == 302
    assert comment_with(app, text + "改").edited_at is not None


@pytest.mark.parametrize("body, reason", [("   ", "Write something"),
                                          ("长" * 2001, "at most 2000")])
def test_empty_or_overlong_text_is_refused(client_as, world, body, reason):
    rm1 = client_as("rm1")
    response = add(rm1, "customer", world.customers["c_rm1"], body)
    assert response.status_code == 302 and reason in flashes(rm1)


def _log_rows(app, entity, entity_id):
    from backoffice.extensions import db
    from models import AuditLog

    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(
            AuditLog.entity == entity, AuditLog.entity_id == str(entity_id),
            AuditLog.action.like("comment_%")).order_by(AuditLog.id)).all()
        result = [(r.action, r.customer_id, r.actor_username, json.loads(r.detail))
                  for r in rows]
        db.session.remove()
    return result


def test_every_add_edit_and_delete_is_in_the_operation_log(app, client_as, world):
    """Rows name the record (type and id) and its customer; the text is kept as an
    interaction's summary is, a mobile number in it masked by the log writer."""
    rm1 = client_as("rm1")
    task = world.follow_ups["c_rm1"]
    before = len(_log_rows(app, "FollowUp", task))
    text = marker()
    add(rm1, "follow_up", task, f"{text} 客户新手机13912345678 @rm2")
    comment = comment_with(app, text)
    edit(rm1, comment.id, f"{text} 已改")
    delete(rm1, comment.id)
    rows = _log_rows(app, "FollowUp", task)[before:]
    assert [r[0] for r in rows] == ["comment_add", "comment_edit", "comment_delete"]
    assert {r[1] for r in rows} == {world.customers["c_rm1"]}
    assert {r[2] for r in rows} == {"rm1"}
    added, edited, deleted = (r[3] for r in rows)
    assert added["comment"] == comment.id and text in added["body"]
    assert "13912345678" not in json.dumps(added) and "139****5678" in added["body"]
    assert added["mentioned"] == ["测试rm2"]
    assert edited["body"]["new"] == f"{text} 已改" and text in edited["body"]["old"]
    assert edited["mentioned"] == {"old": ["测试rm2"], "new": []}
    assert deleted["body"] == f"{text} 已改"


def test_campaign_comments_are_logged_without_a_customer(app, client_as, campaign):
    senior = client_as("senior")
    add(senior, "campaign", campaign, marker())
    [(action, customer_id, _actor, _detail)] = _log_rows(app, "Campaign", campaign)
    assert action == "comment_add" and customer_id is None


def test_the_log_screen_words_the_comment_rows(app, world):
    from backoffice.audit import words

    with app.test_request_context():
        assert words.action_label("comment_add") != "comment_add"
        assert words.action_label("comment_delete") != "comment_delete"
        assert words.key_label("mentioned") != "mentioned"


# --- the names offered after "@" -------------------------------------------------------------


def chinese_marker(length: int = 6) -> str:
    """A Chinese text no other test gives anyone (each hex digit of a uuid as a character)."""
    import uuid

    return "".join("零一二三四五六七八九甲乙丙丁戊己"[int(digit, 16)]
                   for digit in uuid.uuid4().hex[:length])


def test_the_name_lookup_offers_active_colleagues_only(client_as, world, staff_member):
    """Only the colleagues this test made are judged: the staff table holds whoever other tests
    made, so a prefix such as "测试" matches an unknown number of them."""
    import uuid

    family = "Qin" + uuid.uuid4().hex[:6]
    active = staff_member("Teller", world.branches["B1"], first_name="Yu", last_name=family)
    staff_member("Teller", world.branches["B1"], first_name="Yi", last_name=family, active=False)
    rm1 = client_as("rm1")
    answer = rm1.get(f"/comments/staff?q={family.lower()}")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    staff = answer.json["staff"]
    assert [s["id"] for s in staff] == [active]
    assert staff[0]["name"] == f"{family} Yu" and set(staff[0]) == {"id", "name", "username"}
    assert rm1.get("/comments/staff?q=").json == {"staff": []}
    assert rm1.get("/comments/staff?q=%25").json == {"staff": []}  # a wildcard is a character
    # Chinese names: by family name, by given name, and by the whole name written without a
    # space; the deactivated namesake never.
    surname, given = chinese_marker(), chinese_marker()
    colleague = staff_member("RelationshipManager", world.branches["B2"], first_name=given,
                             last_name=surname)
    staff_member("RelationshipManager", world.branches["B2"], first_name=given,
                 last_name=surname, active=False)
    for typed in (surname, given, f"{surname}{given[:2]}"):
        found = rm1.get(f"/comments/staff?q={typed}").json["staff"]
        assert [(s["id"], s["name"]) for s in found] == [(colleague, f"{surname}{given}")], typed


def test_a_locked_colleague_is_still_offered(app, client_as, world, staff_member):
    """A lock after wrong passwords runs out by itself (and anyone can cause one by guessing):
    the colleague stays mentionable, as saving a comment resolves them, and reads the
    notification once they sign in again. Only deactivation (a former colleague) hides them."""
    import datetime as dt

    from backoffice.comments.mentions import resolve
    from backoffice.extensions import db
    from models import Staff
    from models.base import utcnow

    surname = chinese_marker()
    locked = staff_member("Teller", world.branches["B1"], first_name="锁", last_name=surname)
    with app.app_context():
        row = db.session.get(Staff, locked)
        row.locked_until = utcnow() + dt.timedelta(minutes=30)
        db.session.commit()
        assert resolve(db.session, f"@{surname}锁 请回电").ids == [locked]
        db.session.remove()
    found = client_as("rm1").get(f"/comments/staff?q={surname}").json["staff"]
    assert [s["id"] for s in found] == [locked]


def test_a_thread_costs_the_same_statements_for_one_comment_or_many(app, client_as, world,
                                                                    change_request):
    """Authors and mentioned colleagues are read together, not one query per comment."""
    from tests.scale.test_query_counts import statements_for

    rm1 = client_as("rm1")
    pk = change_request("c_rm1")
    url = page_of("change_request", pk)
    add(rm1, "change_request", pk, f"@bm1 {marker()}")
    one = statements_for(app, rm1, url)
    for username in ("rm1", "bm1", "senior"):
        add(client_as(username), "change_request", pk, f"@rm1 @teller1 {marker()}")
    many = statements_for(app, rm1, url)
    assert many["lazy"] == one["lazy"] == []
    assert len(many["statements"]) == len(one["statements"]), "\n".join(
        s[:120] for s in many["statements"])
