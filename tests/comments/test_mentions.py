"""Finding @mentions in a comment's text: pure rules first, then against the staff table."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from backoffice.comments.mentions import (candidates, find, highlighted, person_of,
                                          staff_name)


def person(pk, username, first, last):
    return person_of(SimpleNamespace(id=pk, username=username, first_name=first,
                                     last_name=last))


WANG_LI = person(1, "wangli", "丽", "王")
WANG_LINA = person(2, "wanglina", "丽娜", "王")
LI_WANG = person(3, "liwang", "Li", "Wang")
ZHANG = person(4, "zhang", "伟", "张")
PEOPLE = [WANG_LI, WANG_LINA, LI_WANG, ZHANG]


def ids(text, people=PEOPLE, picked=()):
    return find(text, people, picked).ids


def test_names_are_shown_family_name_first():
    assert WANG_LI.name == "王丽"
    assert LI_WANG.name == "Wang Li"
    assert staff_name(SimpleNamespace(username="x", first_name="", last_name="")) == "x"


def test_the_issue_example_mentions_by_login_name():
    assert ids("@wangli please call this customer before Friday") == [1]


def test_a_chinese_name_needs_no_space_after_it():
    assert ids("@王丽请在周五前给客户回电") == [1]
    assert ids("请@王丽跟进") == [1]


def test_the_longest_name_wins():
    assert ids("@王丽娜 和 @王丽 一起跟进") == [2, 1]
    assert ids("@wanglina thanks") == [2]


def test_names_with_spaces_in_either_order():
    assert ids("@Wang Li can you call?") == [3]
    assert ids("@Li Wang can you call?") == [3]
    assert ids("@li wang, lower case works too") == [3]


def test_a_latin_name_does_not_run_into_a_longer_word():
    assert ids("@wanglix is someone else") == []
    assert ids("@zhangsan is not zhang") == []


def test_unknown_names_stay_text():
    found = find("@nobody and @王五 and @ alone", PEOPLE)
    assert found.ids == [] and found.spans == [] and found.ambiguous == []


def test_an_email_address_is_not_a_mention():
    assert ids("write to zhang@wangli.example.com") == []


def test_each_colleague_is_mentioned_once_in_order():
    assert ids("@zhang @wangli @zhang") == [4, 1]


def test_two_colleagues_with_one_name_need_a_pick():
    twin = person(9, "wangli2", "丽", "王")
    found = find("@王丽 请回电", [WANG_LI, twin])
    assert found.ids == [] and found.ambiguous == ["王丽"]
    assert find("@王丽 请回电", [WANG_LI, twin], picked=[9]).ids == [9]
    assert find("@wangli2 请回电", [WANG_LI, twin]).ids == [9]


def test_candidates_are_bounded_and_only_follow_an_at_sign():
    assert candidates("no mention here") == set()
    found = candidates("@Wang Li 回电 " + "@x" * 100)
    assert "wang li" in found and "wang" in found and "wang " not in found
    assert len(found) < 2000


def test_highlighting_escapes_the_text_and_marks_only_stored_mentions():
    html = str(highlighted("<b>@王丽</b> & @张伟 @wangli", [WANG_LI]))
    assert "&lt;b&gt;" in html and "&amp;" in html and "<b>" not in html
    assert html.count('class="crm-mention') == 2  # @王丽 and @wangli, not @张伟
    assert 'data-staff="1"' in html and 'data-staff="4"' not in html


# --- against the staff table -----------------------------------------------------------------


@pytest.mark.parametrize("active", [True, False])
def test_only_active_staff_are_mentioned(app, world, staff_member, active):
    from backoffice.comments.mentions import resolve
    from backoffice.extensions import db
    from models import Staff

    first = "晓明" + uuid.uuid4().hex[:6]  # a name no other test gives anyone
    pk = staff_member("RelationshipManager", world.branches["B1"], first_name=first,
                      last_name="欧阳", active=active)
    with app.app_context():
        username = db.session.scalar(select(Staff.username).where(Staff.id == pk))
        by_name = resolve(db.session, f"@欧阳{first} 请回电")
        by_login = resolve(db.session, f"please @{username.upper()} call")
        db.session.remove()
    assert by_name.ids == ([pk] if active else [])
    assert by_login.ids == ([pk] if active else [])


def test_a_latin_name_with_a_space_resolves_from_the_table(app, world, staff_member):
    from backoffice.comments.mentions import resolve
    from backoffice.extensions import db

    family = "Zhou" + uuid.uuid4().hex[:6]
    pk = staff_member("Teller", world.branches["B1"], first_name="Mei", last_name=family)
    with app.app_context():
        assert resolve(db.session, f"@{family} Mei and @Mei {family}").ids == [pk]
        assert resolve(db.session, f"@{family} Meixx").ids == []
        db.session.remove()
