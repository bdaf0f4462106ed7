"""A record's comment thread as HTML, for whichever page shows the record.

Pages include it with one call, ``{{ crm_comments("campaign", campaign) }}`` (a template global)
or, on the customer 360 page, through the "Comments" tab. It is empty for a viewer who may not
read the record's comments, so a page can include it unconditionally.
"""
from __future__ import annotations

from flask import current_app, g, url_for
from markupsafe import Markup

from backoffice.comments import mentions, places, service
from backoffice.extensions import db
from backoffice.security.current import current_user
from models.base import utcnow

_G_ASSETS = "_crm_comment_assets"


def assets() -> Markup:
    """The mention-suggestion script, once per page (empty after the first)."""
    if g.get(_G_ASSETS):
        return Markup("")
    g.setdefault(_G_ASSETS, True)
    from backoffice.security.headers import csp_nonce

    return Markup('<script nonce="{}" src="{}"></script>').format(
        csp_nonce(), url_for("static", filename="crm-comments.js"))


def context(place_key: str, record_or_id) -> dict | None:
    """What the thread template needs, or None when the viewer may not read the thread."""
    user = current_user()
    place = places.get(place_key)
    if place is None or record_or_id is None:
        return None
    entity_id = getattr(record_or_id, "id", record_or_id)
    record = places.readable(place, entity_id, user)
    if record is None:
        return None
    comments = service.thread(place, record.id)
    staff_ids = {c.author_id for c in comments}
    for comment in comments:
        staff_ids.update(comment.mentioned_ids or [])
    people = mentions.people_by_id(db.session, staff_ids)
    now = utcnow()
    rows = [{
        "comment": comment,
        "author": people[comment.author_id].name if comment.author_id in people else "",
        "html": mentions.highlighted(comment.body, [people[i] for i in comment.mentioned_ids
                                                    or [] if i in people]),
        "mentioned": [people[i].name for i in comment.mentioned_ids or [] if i in people],
        "mine": user is not None and comment.author_id == user.id,
        "changeable": service.may_change(comment, user, now),
    } for comment in comments]
    return {"place": place, "record": record, "rows": rows,
            "may_write": places.may_write(user), "minutes": service.edit_minutes(),
            "add_url": url_for("CommentsView.add", place=place.key, entity_id=record.id),
            "staff_url": url_for("CommentsView.staff"), "assets": assets}


def render(place_key: str, record_or_id) -> Markup:
    data = context(place_key, record_or_id)
    if data is None:
        return Markup("")
    from backoffice.formatting import local_time

    template = current_app.jinja_env.get_template("comments/_thread.html")
    return Markup(template.render(local_time=local_time, **data))
