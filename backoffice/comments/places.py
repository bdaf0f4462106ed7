"""Where comments may be left, and who may read them there.

A place is a kind of record with a page that shows its thread: the customer 360 page, a
follow-up task, a change request, a campaign. Each names the model, the permission view whose
``can_read`` its own screens ask for, the customer the record belongs to (if any) and the page.

Whether someone may read a thread is whether they may read the record: their roles grant
``can_read`` on the record's view and on ``Comment``, and the record passes their record scope
(it is loaded through the session under *their* scope, so a record of another branch, or of
another relationship manager's book, does not exist for them). The same question is asked of a
colleague being mentioned, which is how a mention learns that its recipient cannot see the
record. Comments themselves are then read by (place, record id) without the scope: the record
check already decided, and comments on records of no customer (campaigns) carry no customer
for the scope to match.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.extensions import db
from backoffice.security.permissions import has_permission
from backoffice.security.policy import acting_as

READ, WRITE, COMMENT_VIEW = "can_read", "can_write", "Comment"


@dataclass(frozen=True)
class Place:
    key: str  # stored in ``comment.entity``
    model: type
    view: str  # the permission view name the record's screens check
    label: object  # a lazy text: "a follow-up task"
    customer_id: Callable[[object], int | None]
    url: Callable[[int], str]  # the page showing the record's thread


_PLACES: dict[str, Place] = {}


def register(place: Place) -> None:
    _PLACES[place.key] = place


def get(key: str) -> Place | None:
    return _PLACES.get(key)


def all_places() -> list[Place]:
    return list(_PLACES.values())


def readable(place: Place, entity_id, user):
    """The record if ``user`` may read it (role grants and record scope), else None."""
    if user is None or not getattr(user, "is_active", False):
        return None
    if not (has_permission(user, READ, place.view) and has_permission(user, READ, COMMENT_VIEW)):
        return None
    try:
        entity_id = int(entity_id)
    except (TypeError, ValueError):
        return None
    with acting_as(user):
        return db.session.scalars(
            select(place.model).where(place.model.id == entity_id)).one_or_none()


def may_write(user) -> bool:
    """Whether the user's roles let them comment (on records they may read)."""
    return user is not None and has_permission(user, WRITE, COMMENT_VIEW)


def register_defaults() -> None:
    """The four places of the first release."""
    from models import Campaign, ChangeRequest, Customer, FollowUp

    register(Place("customer", Customer, "Customer", _l("a customer's page"),
                   lambda record: record.id,
                   lambda pk: url_for("CustomerView.show", pk=pk) + "#tab-comments"))
    register(Place("follow_up", FollowUp, "FollowUp", _l("a follow-up task"),
                   lambda record: record.customer_id,
                   lambda pk: url_for("FollowUpView.show", pk=pk) + "#comments"))
    register(Place("change_request", ChangeRequest, "ChangeRequest", _l("a change request"),
                   lambda record: record.customer_id,
                   lambda pk: url_for("ReviewView.show", pk=pk) + "#comments"))
    register(Place("campaign", Campaign, "Campaign", _l("a campaign"),
                   lambda _record: None,
                   lambda pk: url_for("CampaignsView.show", pk=pk) + "#comments"))
