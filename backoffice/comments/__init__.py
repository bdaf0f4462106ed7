"""Comments with @mentions on the records staff work on together.

``places`` says where comments may be left and who may read them there, ``mentions`` finds the
colleagues a text names, ``service`` adds, edits and deletes (with the operation log and the
notifications), ``thread`` draws a record's thread for its page and ``views`` takes the posts.
The customer 360 page gets a "Comments" tab through its registry; the task, change-request and
campaign pages include ``{{ crm_comments(place, record) }}``.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l


def register(appbuilder) -> None:
    from flask import current_app

    from backoffice.comments import places, thread, views

    places.register_defaults()
    appbuilder.add_view_no_menu(views.CommentsView())
    current_app.jinja_env.globals["crm_comments"] = thread.render
    current_app.jinja_env.globals["crm_comment_assets"] = thread.assets
    _register_customer_tab()
    _register_log_words()


def _register_customer_tab() -> None:
    from backoffice.comments import thread
    from backoffice.customers.panels import HEADER, Panel, Tab, register_panel, register_tab

    def readers(viewer, _customer) -> bool:
        return viewer.has("can_read", "Comment")

    register_tab(Tab("comments", _l("Comments"), "comments/_tab.html",
                     lambda customer: {"thread": thread.render("customer", customer)},
                     readers, order=60, icon="fa-comment-o"))
    # The 360 page loads tabs as fragments, whose scripts do not run: the suggestion script
    # comes with the page, in the header, and serves whichever tab brings a comment box.
    register_panel(Panel("comments_assets", HEADER, "comments/_assets.html", lambda _cu: {},
                         lambda viewer, _cu: viewer.has("can_write", "Comment"), order=999))


def _register_log_words() -> None:
    """The operation log's words for what this room writes to it."""
    from backoffice.audit import words

    words.ACTION_LABELS.setdefault("comment_add", _l("Added a comment"))
    words.ACTION_LABELS.setdefault("comment_edit", _l("Edited a comment"))
    words.ACTION_LABELS.setdefault("comment_delete", _l("Deleted a comment"))
    words.DETAIL_LABELS.setdefault("comment", _l("Comment"))
    words.DETAIL_LABELS.setdefault("body", _l("Comment text"))
    words.DETAIL_LABELS.setdefault("mentioned", _l("Mentioned"))
