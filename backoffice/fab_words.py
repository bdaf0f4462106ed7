"""Column labels that Flask-AppBuilder makes up from column names, in the user's language.

A view that names no label for a column it shows gets ``"Rq Job Id"`` or ``"Description"``
from FAB (the column name, prettified): plain English on a Chinese screen. FAB's own group,
role and permission screens are built that way, and so is any of our views that forgets a
label. After every view is registered, each such made-up label of a column in
:data:`COLUMN_WORDS` is replaced by its translation; ``tests/test_untranslated_text.py`` fails
on a shown column whose label is still made up, so a new one lands here (or in its view).
"""
from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l
from wtforms.fields.core import UnboundField

COLUMN_WORDS = {
    "id": _l("No."),
    "name": _l("Name"),
    "label": _l("Label"),
    "description": _l("Description"),
    "role": _l("Role"),
    "roles": _l("Roles"),
    "groups": _l("Groups"),
    "user": _l("User"),
    "users": _l("Users"),
    "rq_job_id": _l("Queue job id"),
    "offer": _l("Offer"),
    "templates": _l("Templates"),
    "claimed_at": _l("Claimed at"),
    "claim_token": _l("Claim token"),
}


def made_up(label) -> bool:
    """FAB's prettified column name: a plain ``str`` (ours are lazy translations)."""
    return type(label) is str


def install(app: Flask) -> None:
    for view in app.appbuilder.baseviews:
        labels = getattr(view, "label_columns", None)
        if not isinstance(labels, dict):
            continue
        for column, label in list(labels.items()):
            word = COLUMN_WORDS.get(column)
            # ``is word``: views may share one label dict, relabelled through another view
            if word is not None and (made_up(label) or label is word):
                relabel(view, column, word)


def relabel(view, column: str, label) -> None:
    """Give ``column`` its label on the view and on the forms FAB built from the made-up one
    when the view was created (search form and filter menu, add and edit forms). Forms built
    per request (a property) take the view's labels when they are built."""
    view.label_columns[column] = label
    for attribute in ("search_form", "add_form", "edit_form"):
        form = vars(view).get(attribute)
        field = getattr(form, column, None) if form is not None else None
        if isinstance(field, UnboundField):
            if "label" in field.kwargs or not field.args:
                field.kwargs["label"] = label
            else:
                field.args = (label, *field.args[1:])
