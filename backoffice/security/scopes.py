"""Record scopes, enforced on every ORM query rather than in each view.

FAB's ``base_filters`` do not cover actions or fetches by primary key (DESIGN pitfall 5), and the
REST API, related lists, exports and jobs all query too. So the scope is attached to the session:
a ``do_orm_execute`` hook adds ``with_loader_criteria`` for every scoped entity to every ORM
SELECT, UPDATE and DELETE. A record outside the scope simply does not exist for that request,
which is why every path answers 404 for it.

Outside a request (CLI, jobs) queries are unrestricted unless a job runs ``as_user(...)``; inside a
request the scope comes from the logged-in user (session cookie or JWT), and an anonymous request
sees no customer data at all.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
import weakref
from dataclasses import dataclass

from flask import current_app, g, has_request_context
from sqlalchemy import event, false, or_, select
from sqlalchemy.orm import with_loader_criteria
from sqlalchemy.sql.elements import False_

from models import ChangeRequest, Customer
from models.base import CustomerRecord


def _customer_records() -> tuple[type, ...]:
    """Every mapped model marked as a customer's record (``models`` imports them all)."""
    found, todo = set(), list(CustomerRecord.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.add(cls)
            todo.extend(cls.__subclasses__())
    mapped = (cls for cls in found if hasattr(cls, "__table__"))
    return tuple(sorted(mapped, key=lambda cls: cls.__name__))


# Entities reached from a customer through their ``customer_id`` column (change requests have a
# rule of their own: see below).
CUSTOMER_CHILDREN = tuple(e for e in _customer_records() if e is not ChangeRequest)
SCOPED_ENTITIES = (Customer, *CUSTOMER_CHILDREN, ChangeRequest)


@dataclass(frozen=True)
class RecordScope:
    """Which customers a user may see: ``all``, one ``branch``, their ``own`` book, or ``none``."""

    kind: str
    user_id: int | None = None
    branch_id: int | None = None

    def customer_condition(self):
        """The SQL condition on ``customer`` rows, or None when nothing is restricted."""
        if self.kind == "all":
            return None
        if self.kind == "branch" and self.branch_id is not None:
            return Customer.branch_id == self.branch_id
        if self.kind == "own" and self.user_id is not None:
            return or_(Customer.owner_id == self.user_id, Customer.teller_id == self.user_id)
        return false()

    def visible_customer_ids(self):
        """The ids of the customers in scope as a scalar subquery over the customer *table*,
        for the criteria of the records that hang off a customer.

        Built from the table's columns rather than the mapped class, so the customer criterion
        the same statement carries is not applied inside it a second time (and a third in a
        relationship load's copy): the condition is the same, the database plans it once.
        """
        table = Customer.__table__
        if self.kind == "branch" and self.branch_id is not None:
            condition = table.c.branch_id == self.branch_id
        elif self.kind == "own" and self.user_id is not None:
            condition = or_(table.c.owner_id == self.user_id, table.c.teller_id == self.user_id)
        else:
            condition = false()
        return select(table.c.id).where(condition).scalar_subquery()

    def permits_customer(self, customer: Customer) -> bool:
        """The same rule in Python, for records about to be written (not yet queryable).

        Reads the related objects as well as the id columns: before a flush a relationship
        set by a form has not filled in its foreign key yet.
        """
        if self.kind == "all":
            return True
        if self.kind == "branch":
            return self.branch_id is not None and _ref(customer, "branch") == self.branch_id
        if self.kind == "own":
            return self.user_id is not None and self.user_id in (
                _ref(customer, "owner"), _ref(customer, "teller")
            )
        return False


def _ref(customer: Customer, relation: str):
    """The id the customer's ``relation`` points at: the related object's when it is loaded
    or was set (a form's, before the flush fills in the foreign key), else the id column.

    A relation neither loaded nor set cannot differ from its column, and reading it would
    load it: a query per distinct teller on every page of a relationship manager's list.
    """
    if relation not in customer.__dict__:  # the instance's loaded or set attributes
        return getattr(customer, f"{relation}_id")
    related = getattr(customer, relation)
    return related.id if related is not None else getattr(customer, f"{relation}_id")


UNRESTRICTED = RecordScope("all")
NOTHING = RecordScope("none")
_job_scope: contextvars.ContextVar[RecordScope | None] = contextvars.ContextVar(
    "crm_job_scope", default=None
)


def scope_for_user(user) -> RecordScope:
    """The widest scope any of the user's roles grants (roles unknown to config grant none)."""
    from config.roles import ROLES, SCOPE_ORDER

    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    kinds = {ROLES.get(role.name, {}).get("scope", "none") for role in user.roles}
    kind = next(k for k in SCOPE_ORDER if k in kinds or k == "none")
    return RecordScope(kind, user_id=user.id, branch_id=getattr(user, "branch_id", None))


def current() -> RecordScope | None:
    """The scope in force now: a job's ``as_user`` scope, the request user's, or unrestricted."""
    job_scope = _job_scope.get()
    if job_scope is not None:
        return job_scope
    if not has_request_context():
        return UNRESTRICTED
    if "_crm_scope" not in g:
        if g.get("_crm_scope_pending"):
            return None  # loading the user and roles to compute the scope: not customer data
        g._crm_scope_pending = True
        try:
            g._crm_scope = scope_for_user(current_app.appbuilder.sm.current_user)
        finally:
            g._crm_scope_pending = False
    return g._crm_scope


def forget_request_scope() -> None:
    """Drop the cached scope (after login or logout changes the user within a request)."""
    g.pop("_crm_scope", None)
    g.pop("_crm_viewer", None)  # the field-access policy's viewer (backoffice.security.policy)


@contextlib.contextmanager
def as_scope(scope: RecordScope):
    """Run a block (a job, a CLI command on behalf of a user) under an explicit scope."""
    token = _job_scope.set(scope)
    try:
        yield scope
    finally:
        _job_scope.reset(token)


@functools.lru_cache(maxsize=1024)
def _criteria_options(scope: RecordScope):
    """The loader criteria of a scope, built once per scope value (the scope is a frozen
    value: kind, user, branch) and shared by every statement of every request under it.

    Building them is a subquery and a ``with_loader_criteria`` per customer record type, and
    a list page runs three statements over customers (estimate, count, page): built anew each
    time, they cost a relationship manager's list more CPU than its queries took in the
    database. The options are immutable SQL constructs, safe to share between threads.
    """
    condition = scope.customer_condition()
    if condition is None:
        return ()
    options = [with_loader_criteria(Customer, condition, include_aliases=True)]
    if isinstance(condition, False_):
        children = [with_loader_criteria(e, false(), include_aliases=True) for e in CUSTOMER_CHILDREN]
    else:
        visible = scope.visible_customer_ids()
        children = [
            with_loader_criteria(e, e.customer_id.in_(visible), include_aliases=True)
            for e in CUSTOMER_CHILDREN
        ]
    return (*options, *children, _change_request_criteria(scope, condition))


def _change_request_criteria(scope: RecordScope, condition):
    """Change requests (maker-checker review): a maker always sees their own; otherwise a
    request is visible with its customer, or, for a customer not yet created (or a branch
    manager), through the branch it was filed in."""
    if isinstance(condition, False_):
        return with_loader_criteria(ChangeRequest, false(), include_aliases=True)
    visible = scope.visible_customer_ids()
    mine = ChangeRequest.maker_id == scope.user_id
    about_visible = ChangeRequest.customer_id.in_(visible)
    if scope.kind == "branch":
        rule = or_(mine, about_visible, ChangeRequest.branch_id == scope.branch_id)
    else:
        rule = or_(mine, about_visible)
    return with_loader_criteria(ChangeRequest, rule, include_aliases=True)


_SCOPED_MAPPERS = {entity.__mapper__ for entity in SCOPED_ENTITIES}

# statement -> {scope: the statement with that scope's criteria}. A statement built once per
# process (the user load, the bell's count, the 360 page's panels) is executed with the same
# few scopes over and over; each ``options(...)`` copy is a new statement whose cache key
# SQLAlchemy computes afresh, and a scope's criteria (a subquery per customer record type) are
# most of that key: more CPU per statement than the statement's own work. Kept per statement
# object, weakly, so a statement built per request leaves with its request.
_scoped_statements: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_scoped_lock = threading.Lock()
_MAX_SCOPES_PER_STATEMENT = 64


def _carries(statement, options: tuple) -> bool:
    """Whether the statement has these very criteria already: a relationship load of an object
    loaded under the same scope inherits them (they propagate to loaders)."""
    first = options[0]
    return any(option is first for option in getattr(statement, "_with_options", ()))


def _with_criteria(statement, scope: RecordScope, options: tuple):
    """``statement`` with the scope's loader criteria, the same object for the same pair."""
    try:
        per_scope = _scoped_statements.get(statement)
    except TypeError:  # not weakly referenceable: nothing to keep it by
        return statement.options(*options)
    scoped = per_scope.get(scope) if per_scope is not None else None
    if scoped is None:
        scoped = statement.options(*options)
        with _scoped_lock:
            per_scope = _scoped_statements.setdefault(statement, {})
            if len(per_scope) >= _MAX_SCOPES_PER_STATEMENT:
                per_scope.clear()
            per_scope[scope] = scoped
    return scoped


def _apply_scope(state) -> None:
    """``do_orm_execute`` hook: restrict every ORM statement over customer data."""
    if state.is_column_load:
        return  # refreshing an attribute of an object already loaded under the scope
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("crm_unscoped"):
        return
    # Statements only about other entities (users, roles, products) need no scope, and must not
    # compute it: they run while the user is being loaded. A statement reporting no mappers at
    # all still gets the criteria: ``Query.count()`` wraps the query in a subquery that way, and
    # the criteria must reach the customer table inside it.
    mappers = set(state.all_mappers)
    if mappers and not mappers & _SCOPED_MAPPERS:
        return
    scope = current()
    if scope is None:
        return
    options = _criteria_options(scope)
    if options and not _carries(state.statement, options):
        state.statement = _with_criteria(state.statement, scope, options)


def install(session) -> None:
    """Attach the hook once to the (scoped) session factory."""
    if not event.contains(session, "do_orm_execute", _apply_scope):
        event.listen(session, "do_orm_execute", _apply_scope)
