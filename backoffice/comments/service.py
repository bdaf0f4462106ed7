"""Adding, editing and deleting comments: one function per use case, for screens and tests.

Each checks first (the record is readable by the actor, the text is acceptable, the comment is
the actor's own and still inside the edit window), then writes the comment, its operation-log
row and the mention notifications in one transaction it commits. A record the actor may not
read raises :class:`NotVisible` (the screens answer 404); a refusal the actor may be told about
raises :class:`CommentRefused` with the message.

The operation log keeps the text as it keeps an interaction's summary: the log writer masks
ID numbers, mobiles, cards, e-mails and addresses in it by their shape
(``backoffice.audit.redact``), and the row names the record commented on (its type and id) and
its customer, so the customer's log and a filter on the record find it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.audit import log
from backoffice.comments import mentions, places
from backoffice.extensions import db
from models.base import utcnow
from models.comments import BODY_MAX, Comment

ADDED, EDITED, DELETED = "comment_add", "comment_edit", "comment_delete"


class NotVisible(Exception):
    """The record (or the comment's record) is not the actor's to read."""


class CommentRefused(Exception):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass
class Outcome:
    comment: Comment
    notified: list[int] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # names told only that they were mentioned
    ambiguous: list[str] = field(default_factory=list)


def edit_minutes() -> int:
    return int(current_app.config["CRM_COMMENT_EDIT_MINUTES"])


def editable_until(comment: Comment) -> dt.datetime:
    return comment.created_at + dt.timedelta(minutes=edit_minutes())


def may_change(comment: Comment, user, now: dt.datetime | None = None) -> bool:
    """Whether ``user`` may still edit or delete ``comment`` (their own, not deleted, in time)."""
    return (user is not None and comment.author_id == user.id and comment.deleted_at is None
            and (now or utcnow()) <= editable_until(comment))


def thread(place: places.Place, entity_id: int, limit: int = 200) -> list[Comment]:
    """A record's comments, oldest first (the caller has checked the record is readable)."""
    return list(db.session.scalars(
        select(Comment).where(Comment.entity == place.key, Comment.entity_id == entity_id)
        .order_by(Comment.id).limit(limit), execution_options={"crm_unscoped": True}))


def add(user, place_key: str, entity_id, body, picked=()) -> Outcome:
    place = places.get(place_key)
    record = places.readable(place, entity_id, user) if place is not None else None
    if record is None or not places.may_write(user):
        raise NotVisible(entity_id)
    text = _checked(body)
    found = mentions.resolve(db.session, text, _ids(picked))
    comment = Comment(entity=place.key, entity_id=record.id,
                      customer_id=place.customer_id(record), author_id=user.id, body=text,
                      mentioned_ids=found.ids, created_at=utcnow())
    db.session.add(comment)
    db.session.flush()
    _log(ADDED, place, comment, {"body": text, "mentioned": _names(found.ids)})
    outcome = Outcome(comment, ambiguous=found.ambiguous)
    _tell(outcome, place, record, user, found.ids)
    db.session.commit()
    return outcome


def edit(user, comment_id, body, picked=()) -> Outcome:
    comment, place, record = _own(user, comment_id)
    text = _checked(body)
    found = mentions.resolve(db.session, text, _ids(picked))
    before, before_ids = comment.body, list(comment.mentioned_ids or [])
    comment.body, comment.mentioned_ids, comment.edited_at = text, found.ids, utcnow()
    db.session.flush()
    _log(EDITED, place, comment, {
        "body": {"old": before, "new": text},
        "mentioned": {"old": _names(before_ids), "new": _names(found.ids)}})
    outcome = Outcome(comment, ambiguous=found.ambiguous)
    _tell(outcome, place, record, user, [i for i in found.ids if i not in before_ids])
    db.session.commit()
    return outcome


def delete(user, comment_id) -> Comment:
    comment, place, _record = _own(user, comment_id)
    before = comment.body
    comment.body, comment.mentioned_ids, comment.deleted_at = "", [], utcnow()
    db.session.flush()
    _log(DELETED, place, comment, {"body": before})
    db.session.commit()
    return comment


# --- checks ----------------------------------------------------------------------------------


def _checked(body) -> str:
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise CommentRefused(_l("Write something before posting the comment."))
    if len(text) > BODY_MAX:
        raise CommentRefused(_l("A comment may be at most %(max)s characters long (this one "
                                "has %(count)s).", max=BODY_MAX, count=len(text)))
    if "\x1e" in text:  # the stored-text marker (backoffice.stored_text): never typed
        raise CommentRefused(_l("The comment contains a control character; remove it."))
    return text


def _ids(picked) -> list[int]:
    result = []
    for value in picked or ():
        try:
            result.append(int(value))
        except (TypeError, ValueError):
            continue
    return result


def _own(user, comment_id):
    """The comment, its place and record, if the actor may read it and may still change it."""
    try:
        comment = db.session.scalars(select(Comment).where(Comment.id == int(comment_id)),
                                     execution_options={"crm_unscoped": True}).one_or_none()
    except (TypeError, ValueError):
        comment = None
    place = places.get(comment.entity) if comment is not None else None
    record = places.readable(place, comment.entity_id, user) if place is not None else None
    if record is None or not places.may_write(user):
        raise NotVisible(comment_id)
    if comment.author_id != user.id:
        raise CommentRefused(_l("You can edit or delete only your own comments."))
    if comment.deleted_at is not None:
        raise CommentRefused(_l("This comment was deleted."))
    if not may_change(comment, user):
        raise CommentRefused(_l("A comment can be edited or deleted only within %(minutes)s "
                                "minutes of posting; this one can no longer be changed.",
                                minutes=edit_minutes()))
    return comment, place, record


# --- the log and the notifications -----------------------------------------------------------


def _names(ids) -> list[str]:
    people = mentions.people_by_id(db.session, ids)
    return [people[i].name for i in ids if i in people]


def _log(action: str, place: places.Place, comment: Comment, detail: dict) -> None:
    log.record(action, entity=place.view, entity_id=comment.entity_id,
               customer_id=comment.customer_id, detail={"comment": comment.id, **detail})


def _tell(outcome: Outcome, place: places.Place, record, author, ids) -> None:
    """Notify each newly mentioned colleague: with the text if they may read the record, else
    only that they were mentioned (and the author learns who could not see it)."""
    from backoffice.notifications import notify

    others = [i for i in ids if i != author.id]
    if not others:
        return
    from models import Staff

    colleagues = {s.id: s for s in db.session.scalars(select(Staff).where(Staff.id.in_(others)))}
    seeing, blind = [], []
    for staff_id in others:
        staff = colleagues.get(staff_id)
        if staff is None:
            continue
        (seeing if places.readable(place, record.id, staff) is not None else blind).append(staff)
    author_name = mentions.staff_name(author)
    comment = outcome.comment
    if seeing:
        excerpt = comment.body if len(comment.body) <= 80 else comment.body[:79] + "…"
        notify(db.session, [s.id for s in seeing], "mention",
               _l("%(author)s mentioned you in a comment on %(place)s: %(text)s",
                  author=author_name, place=place.label, text=excerpt),
               link=place.url(record.id), entity=place.view, entity_id=record.id,
               customer_id=comment.customer_id, actor_id=author.id)
    if blind:
        # No text, no customer, no link: the record is not theirs to read.
        notify(db.session, [s.id for s in blind], "mention_hidden",
               _l("%(author)s mentioned you in a comment on a record you cannot see, so its "
                  "content is not shown to you. Ask %(author)s if you need to know more.",
                  author=author_name),
               actor_id=author.id)
    outcome.notified = [s.id for s in seeing]
    outcome.hidden = [mentions.staff_name(s) for s in blind]
