"""The FAB data interface every back-office screen reads and writes through.

Lists are bounded for scale (``ListQueryMixin``: capped counts, bounded offsets, no N+1). Two
more gaps of FAB are closed here, below the views: values are passed through the presentation
rules (masking, deep profile) before any list or show widget sees them, and database errors
become a plain message instead of FAB flashing the exception text (SQL and parameters, which
would show sensitive values to the user).
"""
from __future__ import annotations

import logging

from flask import current_app
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import (
    FilterStartsWith,
    SQLAFilterConverter,
    get_field_setup_query,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import MANYTOONE, selectinload

from backoffice.errors import WriteRefused
from backoffice.security.encrypted_fields import (  # field encryption
    EncryptedFieldsMixin,
    EncryptedFilterConverter,
)
from backoffice.security.presentation import present

log = logging.getLogger(__name__)


def database_refusal(error: SQLAlchemyError) -> WriteRefused:
    """A user-facing refusal for a database error (details go to the log, not the screen)."""
    log.warning("write refused by the database: %s", type(error).__name__)
    if isinstance(error, IntegrityError):
        return WriteRefused({"_": _l(
            "The database refused this record: a value that must be unique is already used, "
            "or a required or coded field holds something it does not accept.")})
    return WriteRefused({"_": _l("The database could not save this record; nothing was changed.")})


DEFAULT_COUNT_CAP = 10_000


def count_cap() -> int:
    """How many matching rows a list counts exactly (``CRM_LIST_COUNT_CAP``)."""
    return int(current_app.config.get("CRM_LIST_COUNT_CAP", DEFAULT_COUNT_CAP))


class CappedCount(int):
    """A count that stopped at the cap: arithmetic sees the number, screens show "10000+"."""

    def __str__(self) -> str:
        return f"{int(self)}+"

    __html__ = __str__


class ListQueryMixin:
    """List queries that stay fast over millions of rows (DESIGN pitfall 8).

    - The count stops at ``count_cap()`` (``SELECT count(*) FROM (... LIMIT cap + 1)``) instead
      of counting every match: a page needs to know "more than can be paged", not the exact
      number, and an exact count over a million customers costs more than the page itself.
    - The offset never passes the cap (a page number beyond it shows the deepest page the
      capped count offers), so no request can make the database skip a million rows; deeper
      rows are reached by narrowing the filters.
    - Many-to-one relations shown in lists (branch, owner, customer, ...) are loaded with one
      ``selectin`` query each, so the number of queries per page does not grow with its size.
    """

    def query_count(self, query, filters=None, select_columns=None) -> int:
        cap = count_cap()
        inner = self._apply_inner_all(query, filters, select_columns=select_columns,
                                      aliases_mapping={})
        found = inner.order_by(None).limit(cap + 1).count()
        return CappedCount(cap) if found > cap else found

    def apply_pagination(self, query, page, page_size):
        if page and page_size and page * page_size > count_cap():
            page = count_cap() // page_size
        return super().apply_pagination(query, page, page_size)

    def query(self, filters=None, order_column="", order_direction="", page=None,
              page_size=None, select_columns=None, outer_default_load=False):
        """FAB's ``query`` (count, page of items) with the relations loaded up front."""
        base = self.session.query(self.obj)
        count = self.query_count(base, filters, select_columns)
        items = self.apply_all(base, filters, order_column, order_direction, page, page_size,
                               select_columns, outer_default_load)
        if not select_columns:
            items = items.options(*self.list_load_options())
        rows = items.all()
        # With dotted select columns (the REST API's ``branch.name``) each row holds the record
        # and its joined relations: hand back the records, as FAB's own ``query`` does.
        name = self.obj.__name__
        if rows and not isinstance(rows[0], self.obj) and hasattr(rows[0], name):
            rows = [getattr(row, name) for row in rows]
        return count, rows

    def list_load_options(self) -> list:
        mapper = sa_inspect(self.obj)
        return [selectinload(getattr(self.obj, rel.key)) for rel in mapper.relationships
                if rel.direction is MANYTOONE]


class FilterPrefix(BaseFilter):
    """A "starts with" an index can serve: ``lower(col) LIKE 'prefix%'``.

    FAB's own starts-with is ``ILIKE``, which no b-tree index serves, so a name search over a
    million customers scanned them all; ``lower()`` keeps it case-insensitive and migration
    0015 indexes ``lower(name)`` with pattern ops on PostgreSQL.
    """

    name = _l("Starts with")
    arg_name = "sw"

    def apply(self, query, value):
        query, field = get_field_setup_query(query, self.model, self.column_name)
        text = str(value or "").lower()
        text = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return query.filter(func.lower(field).like(text + "%", escape="\\"))


def _indexed_prefix(table) -> tuple:
    return tuple((test, [FilterPrefix if f is FilterStartsWith else f for f in filters])
                 for test, filters in table)


class ListFilterConverter(SQLAFilterConverter):
    conversion_table = _indexed_prefix(SQLAFilterConverter.conversion_table)


class CrmFilterConverter(EncryptedFilterConverter):
    conversion_table = _indexed_prefix(EncryptedFilterConverter.conversion_table)


class ListInterface(ListQueryMixin, SQLAInterface):
    """Plain FAB data interface with capped counts and bounded offsets (the operation log)."""

    filter_converter_class = ListFilterConverter


class CrmInterface(ListQueryMixin, EncryptedFieldsMixin, SQLAInterface):
    """SQLAInterface with presentation on read and plain messages on refused writes."""

    filter_converter_class = CrmFilterConverter

    def _get_attr_value(self, item, col):
        value = present(item, col, super()._get_attr_value(item, col))
        return "" if value is None else value  # FAB's widgets would print "None"

    def add(self, item, commit: bool = True) -> None:
        self._write(super().add, item, commit)

    def edit(self, item, commit: bool = True) -> None:
        self._write(super().edit, item, commit)

    def delete(self, item, commit: bool = True) -> None:
        self._write(super().delete, item, commit)

    def _write(self, operation, item, commit):
        try:
            operation(item, commit)
        except SQLAlchemyError as error:
            raise database_refusal(error) from None
        except Exception as error:  # FAB wraps edit/delete errors in DatabaseException
            cause = error.__cause__
            if isinstance(cause, SQLAlchemyError):
                raise database_refusal(cause) from None
            raise
