"""Admin-defined custom fields (自定义字段) and saved table views (字段集), as data.

A field's values live in the ``custom_fields`` JSON column of its entity's table, keyed by the
definition's ``key``; the definitions only describe them. That is why nothing here deletes data:
archiving a definition hides the field, its stored values stay where they are, and bringing the
definition back shows them again. The typed, read-only description that screens, filters, imports
and jobs use is ``backoffice.fields.registry``; this module is only the schema.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from models.base import JsonDocument, utcnow
from models.org import Staff

ENTITIES = ("customer", "interaction", "campaign", "account")
FIELD_TYPES = ("text", "long_text", "integer", "decimal", "money", "date", "datetime", "boolean",
               "choice", "multi_choice", "email", "mobile", "prc_id", "url")
FIELD_STATUSES = ("active", "archived")
# What a number field of a customer may count toward (``value_roles``): the customer's financial
# assets, and their annual volume (the contribution proxy beside transactions). A bank that
# imported balances as fields before it loads accounts is valued by them.
VALUE_ROLES = ("assets", "volume")


def _in(column: str, values) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


class CustomFieldDefinition(Model):
    """One custom field of one entity: its key, labels, type, rules, choices and audience.

    ``min_value``/``max_value`` are kept as text in the field type's canonical form (a number,
    an ISO date or time) so that one pair of columns serves every type that has a range.
    ``default_value`` holds the default in storage form (what ``values.to_storage`` returns).
    ``value_roles`` lists what the field's amount counts toward (:data:`VALUE_ROLES`; customer
    number fields only): tiers, the churn value band and the rule builder's asset metric all
    add it (``backoffice.fields.value_roles``).
    """

    __tablename__ = "custom_field_definition"
    __table_args__ = (
        UniqueConstraint("entity", "key", name="uq_custom_field_entity_key"),
        CheckConstraint(_in("entity", ENTITIES), name="ck_custom_field_entity"),
        CheckConstraint(_in("field_type", FIELD_TYPES), name="ck_custom_field_type"),
        CheckConstraint(_in("status", FIELD_STATUSES), name="ck_custom_field_status"),
        CheckConstraint("max_length IS NULL OR max_length > 0", name="ck_custom_field_max_length"),
        Index("ix_custom_field_entity_status", "entity", "status", "section", "position"),
    )

    id = Column(Integer, primary_key=True)
    entity = Column(String(20), nullable=False)
    key = Column(String(64), nullable=False)
    label_zh = Column(String(100), nullable=False)
    label_en = Column(String(100), nullable=False)
    help_text = Column(String(500))
    section = Column(String(100))
    position = Column(Integer, nullable=False, default=0)
    field_type = Column(String(20), nullable=False, default="text")
    required = Column(Boolean, nullable=False, default=False)
    default_value = Column(JsonDocument)
    min_value = Column(String(40))
    max_value = Column(String(40))
    max_length = Column(Integer)
    regex = Column(String(500))
    regex_message = Column(String(255))
    unique = Column(Boolean, nullable=False, default=False)
    choices = Column(JsonDocument, nullable=False, default=list)
    sensitive = Column(Boolean, nullable=False, default=False)
    reviewed = Column(Boolean, nullable=False, default=False)
    visible_roles = Column(JsonDocument, nullable=False, default=list)
    editable_roles = Column(JsonDocument, nullable=False, default=list)
    value_roles = Column(JsonDocument, nullable=False, default=list)
    status = Column(String(10), nullable=False, default="active")
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"{self.entity}.{self.key}"


class FieldSet(Model):
    """A saved list layout of an entity: for a role (shared) or for one member of staff.

    ``columns`` is the ordered list of built-in column names and custom keys; ``filters`` a list
    of ``{"field", "op", "value"}`` conditions applied by default; ``sort_column`` and
    ``sort_direction`` the default order. Neither role nor owner: a set every role may pick.
    """

    __tablename__ = "field_set"
    __table_args__ = (
        CheckConstraint(_in("entity", ENTITIES), name="ck_field_set_entity"),
        CheckConstraint("role_id IS NULL OR owner_id IS NULL", name="ck_field_set_role_or_owner"),
        CheckConstraint("sort_direction IN ('asc','desc')", name="ck_field_set_sort_direction"),
        CheckConstraint(_in("status", FIELD_STATUSES), name="ck_field_set_status"),
        Index("ix_field_set_entity_role", "entity", "role_id"),
        Index("ix_field_set_entity_owner", "entity", "owner_id"),
    )

    id = Column(Integer, primary_key=True)
    entity = Column(String(20), nullable=False)
    name = Column(String(100), nullable=False)
    role_id = Column(Integer, ForeignKey("ab_role.id", ondelete="CASCADE"))
    owner_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"))
    columns = Column(JsonDocument, nullable=False, default=list)
    filters = Column(JsonDocument, nullable=False, default=list)
    sort_column = Column(String(64))
    sort_direction = Column(String(4), nullable=False, default="asc")
    status = Column(String(10), nullable=False, default="active")
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    role = relationship("Role")
    owner = relationship(Staff, foreign_keys=[owner_id])

    def __repr__(self) -> str:
        return self.name or ""
