"""``notify()``: the one call other rooms raise notifications with."""
from __future__ import annotations

import pytest
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice import stored_text
from backoffice.extensions import db
from backoffice.notifications import declare, kinds, notify
from models.notifications import Notification


def _of(staff_id):
    return db.session.scalars(select(Notification).where(
        Notification.recipient_id == staff_id).order_by(Notification.id)).all()


def test_rows_commit_with_the_callers_change_and_roll_back_with_it(app, make_staff):
    """The rows are added to the caller's session: a rolled-back change notifies nobody."""
    rm, _ = make_staff("RelationshipManager", "B1")
    with app.app_context():
        notify(db.session, [rm], "task_assigned", _l("Task %(title)s", title="A"))
        db.session.rollback()
        assert _of(rm) == []
        rows = notify(db.session, [rm, rm, None], "task_assigned",
                      _l("Task %(title)s", title="B"), link="/followups/show/1",
                      entity="FollowUp", entity_id=1, customer_id=None, actor_id=None)
        db.session.commit()
        assert [row.recipient_id for row in rows] == [rm]  # duplicates and None dropped
        [stored] = _of(rm)
        assert stored.kind == "task_assigned" and stored.read_at is None
        assert stored.link == "/followups/show/1" and stored.entity == "FollowUp"
        assert stored_text.is_kept(stored.message)  # the message id, not a translated text
        db.session.remove()


def test_inactive_and_unknown_staff_receive_nothing(app, make_staff):
    active, _ = make_staff("Teller", "B1")
    inactive, _ = make_staff("Teller", "B1")
    with app.app_context():
        from models import Staff

        db.session.get(Staff, inactive).active = False
        db.session.commit()
        rows = notify(db.session, [active, inactive, 987654321], "rule", _l("Rule fired"))
        db.session.commit()
        assert [row.recipient_id for row in rows] == [active]
        assert _of(inactive) == []
        db.session.remove()


def test_an_undeclared_kind_is_refused_and_a_declared_one_has_a_label(app, make_staff):
    rm, _ = make_staff("RelationshipManager", "B1")
    with app.app_context():
        with pytest.raises(ValueError):
            notify(db.session, [rm], "no_such_kind", "text")
        declare("nt_test_kind", _l("Import finished"))
        assert notify(db.session, [rm], "nt_test_kind", "plain text")
        db.session.rollback()
        with app.test_request_context(), force_locale("zh"):
            labels = dict(kinds.choices())
            for kind in ("mention", "mention_hidden", "task_assigned", "approval_waiting",
                         "rule", "import_finished"):
                assert kind in labels and labels[kind] != kind
        db.session.remove()


def test_plain_text_is_kept_as_it_is(app, make_staff):
    rm, _ = make_staff("RelationshipManager", "B1")
    with app.app_context():
        [row] = notify(db.session, [rm], "rule", "规则文本 plain")
        db.session.commit()
        assert db.session.get(Notification, row.id).message == "规则文本 plain"
        db.session.remove()
