"""A follow-up task's title in its reader's language.

A task the system names (a churn retention task, a complaint's resolution, a loan progress
notice, a default rule's task) keeps its title as a stored message (``FollowUp.title_key``:
message id and parameters, ``backoffice.stored_text``) beside the text it was made in; every
screen, export and API response shows the message in the reader's language. A title a person
typed has no key and is shown as typed; a person who edits a system title makes it typed.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import inspect, select

from backoffice import stored_text
from backoffice.datamodel import CrmInterface
from backoffice.security.presentation import present
from models import FollowUp


def shown(title, title_key) -> str:
    """The title the reader reads: the stored message in their language, else the text."""
    return stored_text.show(title_key) if title_key else (title or "")


def shown_title(task) -> str:
    return shown(task.title, task.title_key)


def _readings(title_key) -> set[str]:
    """The system title in every language the application offers (as a form or an API client
    may send it back unchanged, in the language it was read in)."""
    locales = set((current_app.config.get("LANGUAGES") or {}).keys())
    locales.add(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh"))
    found = {stored_text.show(title_key)}
    for locale in locales:
        with force_locale(locale):
            found.add(stored_text.show(title_key))
    return found


def keep_or_type(task) -> None:
    """Before an edit is written: a title sent back as it was read (the stored text, or the
    system title in any language) stays the system's, its column text unchanged; any other
    title is typed by a person, so the task loses its key and shows the title as typed."""
    if not task.title_key:
        return
    history = inspect(task).attrs.title.history
    if not history.has_changes():
        return
    before = history.deleted[0] if history.deleted else None
    if task.title == before:
        return
    if (task.title or "").strip() in {text.strip() for text in _readings(task.title_key)}:
        task.title = before if before is not None else task.title
        return
    task.title_key = None


def prefill(form, task) -> None:
    """An edit form opens on the title in the reader's language."""
    if task is not None and task.title_key and getattr(form, "title", None) is not None:
        form.title.data = shown_title(task)[:200]


def titles_by_id(session, ids) -> dict:
    """{task id: title as the reader reads it} for the tasks among ``ids`` the system named."""
    ids = [pk for pk in ids if pk is not None]
    if not ids:
        return {}
    rows = session.execute(select(FollowUp.id, FollowUp.title_key).where(
        FollowUp.id.in_(ids), FollowUp.title_key.is_not(None))).all()
    return {pk: stored_text.show(key) for pk, key in rows}


class FollowUpInterface(CrmInterface):
    """The follow-up lists, show pages and exports read ``title`` in the reader's language."""

    def _get_attr_value(self, item, col, viewer=None):
        if col == "title" and isinstance(item, FollowUp) and item.title_key:
            return present(item, col, shown_title(item), viewer)
        return super()._get_attr_value(item, col, viewer)
