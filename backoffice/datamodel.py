"""The FAB data interface every back-office screen reads and writes through.

Lists are bounded for scale (``ListQueryMixin``: capped counts, bounded offsets, keyset pages,
no N+1). Two
more gaps of FAB are closed here, below the views: values are passed through the presentation
rules (masking, deep profile) before any list or show widget sees them, and database errors
become a plain message instead of FAB flashing the exception text (SQL and parameters, which
would show sensitive values to the user).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import current_app
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import (
    FilterStartsWith,
    SQLAFilterConverter,
    get_field_setup_query,
)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import (DataError, DBAPIError, IntegrityError, ProgrammingError,
                            SQLAlchemyError, StatementError)
from sqlalchemy.orm import MANYTOONE, joinedload, selectinload
from werkzeug.exceptions import BadRequest

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


DEFAULT_COUNT_CAP = 1_000
DEFAULT_MAX_OFFSET = 10_000


def count_cap() -> int:
    """How many matching rows a list counts exactly (``CRM_LIST_COUNT_CAP``).

    Each counted row is an index entry and, for most filters, a visit to its table row: at a
    million customers a cap of 10,000 cost more than the page itself. "1000+" tells a person
    all a list count can (deeper rows are reached by keyset pages, ``backoffice.pagination``).
    """
    return int(current_app.config["CRM_LIST_COUNT_CAP"])


def max_offset() -> int:
    """The deepest offset a numbered page (or an API page) may skip (``CRM_LIST_MAX_OFFSET``)."""
    return int(current_app.config["CRM_LIST_MAX_OFFSET"])


ESTIMATE_FACTOR = 10


def estimated_rows(session, query) -> float | None:
    """PostgreSQL's planner estimate of the rows ``query`` matches, record scope included.

    Used before a capped count: when the planner expects ten times the cap or more, the list
    says "cap+" without counting. A capped count still reads up to ``cap + 1`` rows, and for a
    broad filter (a common surname's first character: 70,000 customers) PostgreSQL builds a
    bitmap of every match first, which costs more than the page. Any other database, or any
    failure to plan, answers None and the count is made as before. The EXPLAIN runs on a
    connection of its own, so a failure cannot abort the request's transaction.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    from backoffice.security import scopes

    statement = query.statement
    scope = scopes.current()
    options = scopes._criteria_options(scope) if scope is not None else None
    if options:
        statement = statement.options(*options)
    try:
        compiled = statement.compile(dialect=bind.dialect,
                                     compile_kwargs={"render_postcompile": True})
        with bind.connect() as connection:
            plan = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string,
                                              compiled.params).scalar()
        return float(plan[0]["Plan"]["Plan Rows"])
    except Exception:  # no estimate: count as usual
        log.warning("no row estimate for a list count", exc_info=True)
        return None


def _narrowed(filters) -> bool:
    """Whether the list is filtered (a search, a click-through, a view's base filter).

    Only a filtered count can be costly below the cap: PostgreSQL may build a bitmap of every
    match of an index condition before the ``LIMIT cap + 1`` stops it. A list with no filter
    counts by reading its first ``cap + 1`` keys, whatever the bank's size, so it is not worth
    the planner's estimate (a compile and a connection of its own on every page).
    """
    return bool(filters is not None and getattr(filters, "filters", None))


def _capped(found: int):
    cap = count_cap()
    return CappedCount(cap) if found > cap else found


def _count_keys(inner) -> int:
    """The capped count of ``inner``'s keys in a statement of its own."""
    return _capped(inner.limit(count_cap() + 1).count())


class CappedCount(int):
    """A count that stopped at the cap: arithmetic sees the number, screens show "1000+"."""

    def __str__(self) -> str:
        return f"{int(self)}+"

    __html__ = __str__


@contextmanager
def values_that_fit(session):
    """Turn a list argument the database cannot take into the caller's error (400).

    Filter and page values are well formed by the time they get here (``backoffice.request_args``)
    but may still not fit their column: a number beyond BIGINT, a date filter FAB could not
    parse, text PostgreSQL refuses. The driver then raises while the statement is bound or run;
    that is bad input, not a fault of the server. Other database errors (a lost connection)
    stay 500s.
    """
    try:
        yield
    except (DataError, OverflowError) as error:
        session.rollback()
        raise _unfit(error) from None
    except ProgrammingError as error:
        # A value of the wrong type for its column ("abc" against a boolean): PostgreSQL finds
        # no operator for the pair. Other programming errors are the server's fault.
        if getattr(error.orig, "sqlstate", None) not in _TYPE_MISMATCH_STATES:
            raise
        session.rollback()
        raise _unfit(error) from None
    except StatementError as error:
        if isinstance(error, DBAPIError):
            raise
        session.rollback()
        raise _unfit(error) from None


# undefined_function (no operator for boolean = text), datatype_mismatch,
# invalid_text_representation
_TYPE_MISMATCH_STATES = ("42883", "42804", "22P02")


def _unfit(error) -> BadRequest:
    log.info("list arguments refused by the database: %s", type(error).__name__)
    return BadRequest(description=gettext(
        "A filter, sort or page value does not fit the column it is compared with (a number "
        "too large, a date that is not a date, or a character the database does not accept)."))


# The relation the field policy reads on every cell of a record that belongs to a customer
# (``security.policy._loaded_customer``): loaded with the page so the check costs no query.
POLICY_RELATION = "customer"


def joined(relation):
    """``joinedload(relation)``, reading only the columns a related record is shown by when
    its model names them (``display_columns``: a member of staff is shown by name, and the
    rest of the row, the password hash among it, is twenty columns each page would describe
    and turn into values for nothing). Anything else read later loads as it is asked for."""
    option = joinedload(relation)
    shown_by = getattr(relation.property.mapper.class_, "display_columns", None)
    if shown_by:
        target = relation.property.mapper.class_
        option = option.load_only(*(getattr(target, name) for name in shown_by))
    return option


class ListQueryMixin:
    """List queries that stay fast over millions of rows (DESIGN pitfall 8).

    - The count stops at ``count_cap()`` (``SELECT count(*) FROM (SELECT id ... LIMIT cap + 1)``)
      instead of counting every match: a page needs to know "more than a page", not the exact
      number, and an exact count over a million customers costs more than the page itself.
    - The offset never passes ``max_offset()`` (a page number beyond it shows the deepest page
      allowed), so no request can make the database skip a million rows; screens reach deeper
      rows by keyset pages (``seek_column``/``query_seek``, ``backoffice.pagination``).
    - The many-to-one relations a page reads are loaded up front, so the number of queries per
      page does not grow with its size: those the page shows (``shown``: its columns; branch
      and owner on the customer list) joined into the page's own query, a record's
      ``customer`` (the policy checks it on every cell) with one ``selectin`` query.
    """

    def query_count(self, query, filters=None, select_columns=None) -> int:
        """``count(*)`` over at most ``cap + 1`` matching keys.

        The inner select names the primary key only (not every column of the model), so
        PostgreSQL can answer from an index alone instead of visiting each row; the record
        scope still applies (``with_loader_criteria`` covers column selects of the entity).
        """
        known, inner = self._count_plan(query, filters, select_columns)
        if known is not None:
            return known
        with values_that_fit(self.session):
            return _count_keys(inner)

    def _count_plan(self, query, filters=None, select_columns=None):
        """(the count when known without counting, else None; the keys' query to count)."""
        cap = count_cap()
        if not select_columns:
            query = self.session.query(self.get_pk())
        inner = self._apply_inner_all(query, filters, select_columns=select_columns,
                                      aliases_mapping={}).order_by(None)
        asked = not self._own_book() and _narrowed(filters)
        estimate = estimated_rows(self.session, inner) if asked else None
        if estimate is not None and estimate >= ESTIMATE_FACTOR * cap:
            return CappedCount(cap), None
        return None, inner

    def _rows_and_count(self, base, items, filters, counted_again):
        """A page's records and its capped count, the count in the page's own statement.

        The count is a scalar subquery beside each row (``SELECT ..., (SELECT count(*) FROM
        (SELECT id ... LIMIT cap + 1)) ...``): the database works it out once for the
        statement, and the page costs one round trip instead of two. A page with no rows
        carries no count, so an empty page past the first counts in a statement of its own
        (``counted_again``: whether an empty page can have matches before it).
        """
        known, inner = self._count_plan(base, filters)
        if known is not None:
            return items.all(), known
        total = select(func.count()).select_from(
            inner.limit(count_cap() + 1).subquery()).scalar_subquery()
        rows = items.add_columns(total.label("crm_list_count")).all()
        if rows:
            return [row[0] for row in rows], _capped(rows[0][1])
        if not counted_again:
            return [], 0
        return [], _count_keys(inner)

    def _own_book(self) -> bool:
        """A list of customers seen through an own scope (owner or teller, both indexed): a
        book one person serves, which a filter only narrows, so its capped count is cheap and
        the planner's estimate (a compile and a round trip of its own) is not asked. Records
        of other tables seen through the same scope are not bounded that way (a book's
        transactions): they keep the estimate."""
        from backoffice.security import scopes

        scope = scopes.current()
        return (scope is not None and scope.kind == "own"
                and getattr(self.obj, "__tablename__", None) == "customer")

    def apply_pagination(self, query, page, page_size):
        if page and page_size and page * page_size > max_offset():
            page = max_offset() // page_size
        return super().apply_pagination(query, page, page_size)

    def query(self, filters=None, order_column="", order_direction="", page=None,
              page_size=None, select_columns=None, outer_default_load=False, shown=None):
        """FAB's ``query`` (count, page of items) with the relations loaded up front
        (``shown``: the columns the page displays, see :meth:`list_load_options`)."""
        with values_that_fit(self.session):
            base = self.session.query(self.obj)
            items = self.apply_all(base, filters, order_column, order_direction, page,
                                   page_size, select_columns, outer_default_load)
            if select_columns:
                count = self.query_count(base, filters, select_columns)
                rows = items.all()
            else:
                items = items.options(*self.list_load_options(shown))
                rows, count = self._rows_and_count(base, items, filters,
                                                   counted_again=bool(page))
        # With dotted select columns (the REST API's ``branch.name``) each row holds the record
        # and its joined relations: hand back the records, as FAB's own ``query`` does.
        name = self.obj.__name__
        if rows and not isinstance(rows[0], self.obj) and hasattr(rows[0], name):
            rows = [getattr(row, name) for row in rows]
        return count, rows

    def seek_column(self, order_column: str) -> str | None:
        """``order_column`` when a keyset page can seek on it (``backoffice.pagination``).

        It must be a plain, NOT NULL column of the model's own table (a row value comparison
        skips NULLs, and a relation's column would need its join), or the primary key.
        """
        if not order_column or "." in order_column:
            return None
        column = self.obj.__table__.c.get(order_column)
        attribute = getattr(self.obj, order_column, None)
        if column is None or getattr(attribute, "property", None) is None:
            return None
        if column.nullable and not column.primary_key:
            return None
        return order_column

    def query_seek(self, filters, seek, page_size: int, shown=None):
        """(capped count, rows, more rows beyond?) for the keyset page ``seek`` describes.

        ``WHERE (col, pk) > (:value, :pk) ORDER BY col, pk LIMIT size + 1`` (mirrored for a
        descending order and for "previous", whose rows are read backwards and turned round):
        the extra row only says whether another page follows.
        """
        from sqlalchemy import tuple_

        base = self.session.query(self.obj)
        column, pk = getattr(self.obj, seek.column), self.get_pk()
        ascending = (seek.direction == "asc") != seek.backwards
        if column is pk or seek.column == pk.key:
            here, there = pk, seek.pk
        else:
            here, there = tuple_(column, pk), tuple_(seek.value, seek.pk)
        query = self.apply_filters(base, self.get_inner_filters(filters))
        query = query.filter(here > there if ascending else here < there)
        order = [column.asc(), pk.asc()] if ascending else [column.desc(), pk.desc()]
        if here is pk:
            order = order[1:]
        with values_that_fit(self.session):
            rows, count = self._rows_and_count(
                base, query.order_by(*order).limit(page_size + 1).options(
                    *self.list_load_options(shown)), filters, counted_again=True)
        has_more = len(rows) > page_size
        rows = rows[:page_size]
        if seek.backwards:
            rows.reverse()
        return count, rows, has_more

    def list_load_options(self, shown=None) -> list:
        """Loader options for a page of records: the many-to-one relations in ``shown``
        (column names, dotted ones by their first part) joined into the page's query, and a
        record's ``customer``, which the field policy checks on every cell, loaded up front.

        A selectin load is a statement of its own (built, sent, its rows described and turned
        into objects): on the customer list, branch and owner as selectin loads cost more CPU
        than the page's own query, and loading the relations a page does not show (a
        customer's teller) cost a statement for nothing. A join to a primary key neither adds
        nor drops rows, so the page, its order and its LIMIT are unchanged.
        """
        mapper = sa_inspect(self.obj)
        names = {str(name).split(".", 1)[0] for name in shown or ()}
        return [(joined if rel.key in names else selectinload)(getattr(self.obj, rel.key))
                for rel in mapper.relationships if rel.direction is MANYTOONE
                and (rel.key in names or rel.key == POLICY_RELATION)]


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


class RememberedConversions:
    """A filter converter that works out each column's filters once per data interface.

    FAB builds a ``Filters`` for every copy and join of a filter set (a list page makes three,
    a 360 page one) and each converts every column of the model again: ~45 columns, each asked
    its type through the conversion table, ~200 filter objects made and dropped per page. A
    column's filters depend only on its name and the model, so they are kept on the data
    interface (which lives as long as its view). Filter objects hold no request state: FAB
    itself keeps a view's filter set, with its filter objects, from request to request. Each
    caller gets a list of its own (``Filters`` extends the lists it is given).
    """

    def convert(self, col_name):
        memo = self.datamodel.__dict__.setdefault("_crm_filter_conversions", {})
        key = (type(self), col_name)
        if key not in memo:
            memo[key] = super().convert(col_name)
        found = memo[key]
        return None if found is None else list(found)


class ListFilterConverter(RememberedConversions, SQLAFilterConverter):
    conversion_table = _indexed_prefix(SQLAFilterConverter.conversion_table)


class CrmFilterConverter(RememberedConversions, EncryptedFilterConverter):
    conversion_table = _indexed_prefix(EncryptedFilterConverter.conversion_table)


class ListInterface(ListQueryMixin, SQLAInterface):
    """Plain FAB data interface with capped counts and bounded offsets (the operation log)."""

    filter_converter_class = ListFilterConverter


class CrmInterface(ListQueryMixin, EncryptedFieldsMixin, SQLAInterface):
    """SQLAInterface with presentation on read and plain messages on refused writes."""

    filter_converter_class = CrmFilterConverter

    def get(self, id, filters=None, select_columns=None, outer_default_load=False,
            eager=()):
        """FAB's ``get``; ``eager`` names many-to-one relations to join into its query (the
        360 page shows the branch and the relationship managers: two lazy loads otherwise)."""
        if not eager or select_columns or self.is_pk_composite():
            return super().get(id, filters, select_columns, outer_default_load)
        if not (filters and filters.filters) and str(id).isdigit():
            # The usual 360 view: no base filter, an integer key (the record scope is added to
            # any statement by the session, as to the query below).
            return self.session.execute(self._get_statement(tuple(eager)),
                                        {"crm_get_pk": int(id)}).unique().scalar_one_or_none()
        from flask_appbuilder.models.filters import Filters

        found = filters.copy() if filters else Filters(self.filter_converter_class, self)
        found.add_filter(self.get_pk_name(), self.FilterEqual, id)
        query = self.session.query(self.obj).options(
            *(joined(getattr(self.obj, name)) for name in eager))
        return self.apply_all(query, found).one_or_none()

    def _get_statement(self, eager: tuple):
        """``get``'s statement for these joined relations, built once per data interface:
        built per view, its loader options and their cache key cost more than running it."""
        statements = self.__dict__.setdefault("_crm_get_statements", {})
        statement = statements.get(eager)
        if statement is None:
            statement = statements[eager] = (
                select(self.obj).where(self.get_pk() == bindparam("crm_get_pk"))
                .options(*(joined(getattr(self.obj, name)) for name in eager)))
        return statement

    def _get_attr_value(self, item, col, viewer=None):
        value = present(item, col, super()._get_attr_value(item, col), viewer)
        return "" if value is None else value  # FAB's widgets would print "None"

    def get_values(self, lst, list_columns):
        """FAB's rows of display values, with the viewer looked up once per page instead of
        once per cell and each record's readability decided once (``presenting_records``)."""
        from backoffice.security.policy import current_viewer, presenting_records

        if not lst:
            return []
        viewer = current_viewer()
        with presenting_records():
            return [{col: self._get_attr_value(item, col, viewer) for col in list_columns}
                    for item in lst]

    def get_values_item(self, item, show_columns):
        """FAB's values of one record (show pages), its readability decided once."""
        from backoffice.security.policy import current_viewer, presenting_records

        viewer = current_viewer()
        with presenting_records():
            return [self._get_attr_value(item, col, viewer) for col in show_columns]

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
