"""What the field-access core asks of two features, which plug their answers in at start-up.

The policy, masking, the log writer's redaction and the presentation of rows are the core: every
feature calls them, so they may call no feature. Yet two of their questions are answered by
features:

* the admin's custom fields (whether one exists and is active, whom it is shown to and edited
  by, whether it is sensitive and of which type, how a record shows it): the fields feature
  (``backoffice.fields``) registers a :class:`CustomFields` here;
* whether a user's change to a customer field waits for a checker: the review feature
  (``backoffice.review``) registers its rule.

Both register in their ``register(appbuilder)``, which ``create_app`` calls for every app, web
or worker. A process that asks before either registered was not built by ``create_app``: it gets
:class:`NotRegistered` rather than an answer that would silently show or write too much.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class NotRegistered(RuntimeError):
    """A feature's answer was asked for before the feature registered it (no ``create_app``)."""


class CustomFields(Protocol):
    """The custom-field definitions as the core reads them. A spec has at least ``key``,
    ``type``, ``active``, ``sensitive``, ``visible_to(roles)`` and ``editable_by(roles)``."""

    entities: tuple[str, ...]  # entity names with custom fields ("customer", ...)

    def spec(self, entity: str, key: str) -> Any | None:
        """The field ``key`` of ``entity``, archived ones included (None: no such field)."""

    def specs(self, entity: str) -> list:
        """Every field of ``entity``, archived ones included."""

    def entity_of(self, record) -> str | None:
        """The entity name of a record (None: its class has no custom fields)."""

    def shown(self, record, spec) -> str:
        """The text a screen shows the current user of ``spec`` on ``record``."""

    def document(self, record, entity: str) -> dict:
        """``{key: value}`` of the fields the current user sees, for an API response."""


_custom_fields: CustomFields | None = None
_review_rule: Callable[[object, str], bool] | None = None


def register_custom_fields(source: CustomFields) -> None:
    global _custom_fields
    _custom_fields = source


def custom_fields() -> CustomFields:
    if _custom_fields is None:
        raise NotRegistered("no custom-field catalogue is registered: build the app with "
                            "backoffice.create_app (backoffice.fields registers it)")
    return _custom_fields


def register_review_rule(rule: Callable[[object, str], bool]) -> None:
    """``rule(user, field)``: whether ``user``'s change of the customer field ``field`` (a
    column name or ``custom_fields.<key>``) waits for a checker."""
    global _review_rule
    _review_rule = rule


def is_reviewed(user, field: str) -> bool:
    if _review_rule is None:
        raise NotRegistered("no review rule is registered: build the app with "
                            "backoffice.create_app (backoffice.review registers it)")
    return _review_rule(user, field)
