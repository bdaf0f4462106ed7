"""The one field-access policy: what a user may do with one field of one record.

Every path that emits or accepts customer data (screens, the 360 page, forms, the REST API,
exports, import mapping, previews and error reports, the operation log's details,
change-request diffs, rule-builder counts and metrics, dashboards, job outputs) asks
:func:`decide` or one of the helpers built on it, and nothing else. A path that decides for
itself is a leak waiting for the next field; one policy means a new field, role or path is
governed the moment it exists.

The answer has two halves, because what a person may read and what they may change are
different questions (a relationship manager edits a mobile number that every list shows
masked):

- ``read``: ``hidden`` (not shown at all, not even that a value exists), ``masked`` (the
  counter-friendly mask of ``backoffice.security.masking``; the full value only through the
  logged reveal action) or ``visible``;
- ``write``: ``none``, ``editable`` (written directly) or ``reviewed`` (a maker's change waits
  for a checker, ``backoffice.review``).

Who sees the deep profile (assets, income, balances, family and investment notes) is decided by
permissions roles hold (``config/roles.py``), never by a role's name or its scope kind: a new
role with bank-wide scope sees no private-banking income until it is granted
``can_deep_profile_top``. Custom fields carry their own visible/editable role lists, chosen by an
admin on the field's screen.

Outside a request and outside a job acting for a user (the CLI, system jobs) nobody is acting
as a member of staff and every field is visible and editable; pipelines that act for a user
(imports, exports) pass that user as the viewer.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from enum import Enum

from flask import current_app, g, has_request_context

from backoffice.security import field_hooks, scopes
from backoffice.security.masking import SENSITIVE_FIELDS, custom_kind, mask_value

CUSTOMER_VIEW = "Customer"
# Deep-profile permissions, on the Customer view (granted in config/roles.py).
DEEP_PROFILE_OWN = "can_deep_profile_own"  # customers the user owns, whatever their tier
DEEP_PROFILE = "can_deep_profile"  # customers in scope outside the top tiers
DEEP_PROFILE_TOP = "can_deep_profile_top"  # top-tier (private banking, wealth) customers in scope
IMPORT_VIEW = "ImportBatch"
IMPORT_RECORDS = "can_import_records"  # imports customer data (operators)
IMPORT_ORG = "can_import_org"  # imports branches and products (the bank's set-up)
IMPORT_STAFF = "can_import_staff"  # imports staff users with their roles
# The import permission (on IMPORT_VIEW) that lets a file write each entity.
IMPORT_PERMISSIONS = {"Customer": IMPORT_RECORDS, "Account": IMPORT_RECORDS,
                      "Transaction": IMPORT_RECORDS, "Interaction": IMPORT_RECORDS,
                      "Branch": IMPORT_ORG, "Product": IMPORT_ORG, "Staff": IMPORT_STAFF}
CUSTOM_PREFIX = "custom_fields."
HIDDEN_TEXT = "—"

# Fields of the deep-profile group, on the customer and on what hangs off it.
DEEP_PROFILE_FIELDS = {
    "Customer": frozenset({"annual_income", "family_notes", "investment_notes", "total_assets"}),
    "Account": frozenset({"balance"}),
}
# Fields nobody writes through a form or an import: identity and bookkeeping of the record.
READ_ONLY_FIELDS = frozenset({"id", "customer_no", "record_uid", "version", "created_at",
                              "updated_at", "created_by_id", "updated_by_id", "tier",
                              "total_assets"})


class Read(str, Enum):
    HIDDEN = "hidden"
    MASKED = "masked"
    VISIBLE = "visible"


class Write(str, Enum):
    NONE = "none"
    EDITABLE = "editable"
    REVIEWED = "reviewed"


@dataclass(frozen=True)
class Decision:
    read: Read
    write: Write
    mask_kind: str | None = None

    @property
    def verdict(self) -> str:
        """The single word: hidden, masked, visible, editable or reviewed."""
        if self.read is Read.HIDDEN:
            return Read.HIDDEN.value
        if self.write is not Write.NONE:
            return self.write.value
        return self.read.value

    @property
    def may_read(self) -> bool:
        return self.read is not Read.HIDDEN

    @property
    def may_write(self) -> bool:
        return self.write is not Write.NONE


SYSTEM_DECISION = Decision(Read.VISIBLE, Write.EDITABLE)


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a member of staff (``user``) under a record scope, or the system."""

    user: object | None
    scope: scopes.RecordScope

    @property
    def is_system(self) -> bool:
        return self.user is None and self.scope.kind == "all"

    @property
    def user_id(self):
        return getattr(self.user, "id", None)

    @property
    def roles(self) -> tuple[str, ...]:
        if self.user is None:
            return ()
        return tuple(role.name for role in getattr(self.user, "roles", ()))

    def has(self, permission: str, view: str = CUSTOMER_VIEW) -> bool:
        """Whether any of the user's roles grants ``permission`` on ``view``.

        Remembered for the viewer's life (one request, or one ``acting_as`` block): a list page
        asks this for every cell it shows."""
        if self.user is None:
            return self.is_system
        memo = self.__dict__.setdefault("_has_memo", {})
        key = (permission, view)
        if key not in memo:
            from backoffice.security.permissions import has_permission

            memo[key] = has_permission(self.user, permission, view)
        return memo[key]


_acting_viewer: contextvars.ContextVar[Viewer | None] = contextvars.ContextVar(
    "crm_policy_viewer", default=None)


def viewer_for(user) -> Viewer:
    """The viewer of a given user (a job or pipeline acting on that user's behalf)."""
    if user is None:
        return Viewer(None, scopes.UNRESTRICTED)
    return Viewer(user, scopes.scope_for_user(user))


def current_viewer() -> Viewer:
    """The viewer in force: one set by :func:`acting_as`, the request's user, or the system."""
    acting = _acting_viewer.get()
    if acting is not None:
        return acting
    if not has_request_context():
        return Viewer(None, scopes.current() or scopes.UNRESTRICTED)
    if "_crm_viewer" not in g:
        scope = scopes.current()
        if scope is None:  # the user and roles are being loaded: no customer data yet
            return Viewer(None, scopes.NOTHING)
        user = current_app.appbuilder.sm.current_user
        if user is None or not getattr(user, "is_authenticated", False):
            user, scope = None, scopes.NOTHING
        g._crm_viewer = Viewer(user, scope)
    return g._crm_viewer


@contextlib.contextmanager
def acting_as(user):
    """Run a block (a job or pipeline on a user's behalf) with that user's field access and
    record scope."""
    viewer = viewer_for(user)
    token = _acting_viewer.set(viewer)
    try:
        with scopes.as_scope(viewer.scope):
            yield viewer
    finally:
        _acting_viewer.reset(token)


# --- the decisions ---------------------------------------------------------------------------


def customer_of(record):
    """The customer a record belongs to (the record itself for a customer), or None."""
    from models import Customer

    if isinstance(record, Customer):
        return record
    return getattr(record, "customer", None)


def is_deep_profile_field(entity: str, field: str) -> bool:
    return field in DEEP_PROFILE_FIELDS.get(entity, ())


def may_see_deep_profile(customer, viewer: Viewer | None = None) -> bool:
    """Whether the viewer may see this customer's deep profile (None: any customer in scope,
    as asked of a whole population before a count or a metric is computed)."""
    viewer = viewer or current_viewer()
    if viewer.is_system:
        return True
    if customer is not None and not viewer.scope.permits_customer(customer):
        return False
    if customer is not None and viewer.user_id is not None \
            and viewer.user_id == customer.owner_id and viewer.has(DEEP_PROFILE_OWN):
        return True
    if customer is None:
        return viewer.has(DEEP_PROFILE) and viewer.has(DEEP_PROFILE_TOP)
    from models.choices import TOP_TIERS

    if customer.effective_tier in TOP_TIERS:
        return viewer.has(DEEP_PROFILE_TOP)
    return viewer.has(DEEP_PROFILE)


def deep_profile_condition(viewer: Viewer | None = None):
    """The SQL condition on ``customer`` rows whose deep profile the viewer may see (None: all
    of them), so that set-based paths (counts, metrics, segment statistics) leave out what a
    row-by-row check would withhold."""
    from sqlalchemy import func

    from models import Customer

    tier = func.coalesce(Customer.tier_override, Customer.tier)
    return deep_profile_condition_on(tier, Customer.owner_id, viewer)


def deep_profile_condition_on(tier, owner_id, viewer: Viewer | None = None):
    """:func:`deep_profile_condition` over any rows that carry a customer's effective ``tier``
    and ``owner_id`` as columns (pre-aggregated summaries grouped by tier and owner)."""
    from sqlalchemy import false, or_

    from models.choices import TOP_TIERS

    viewer = viewer or current_viewer()
    if viewer.is_system or (viewer.has(DEEP_PROFILE) and viewer.has(DEEP_PROFILE_TOP)):
        return None
    allowed = []
    if viewer.has(DEEP_PROFILE_OWN) and viewer.user_id is not None:
        allowed.append(owner_id == viewer.user_id)
    if viewer.has(DEEP_PROFILE):
        allowed.append(or_(tier.is_(None), tier.not_in(TOP_TIERS)))
    if viewer.has(DEEP_PROFILE_TOP):
        allowed.append(tier.in_(TOP_TIERS))
    if not allowed:
        return false()
    return or_(*allowed)


# Relations through which a screen or the API shows a field of another entity
# (``customer.mobile`` on an account, ``account.balance`` on a transaction).
RELATED_ENTITIES = {"customer": "Customer", "account": "Account"}


def decide(entity: str, field: str, record=None, viewer: Viewer | None = None) -> Decision:
    """What ``viewer`` (default: the current one) may do with ``entity.field`` of ``record``.

    ``entity`` is the model's class name (``Customer``, ``Account``, ...); custom fields are
    named ``custom_fields.<key>``, a related record's field ``customer.mobile``. ``record`` may
    be None for a question about the field in general (a form's columns, an import's mapping):
    the answer is then the one for a record in the viewer's scope that the viewer does not own.
    """
    viewer = viewer or current_viewer()
    if viewer.is_system:
        return SYSTEM_DECISION
    if viewer.user is None:
        return Decision(Read.HIDDEN, Write.NONE)
    entity, field, record = _resolve(entity, field, record)
    if field.startswith(CUSTOM_PREFIX):
        return _decide_custom(entity, field[len(CUSTOM_PREFIX):], record, viewer)
    read, kind = _read_builtin(entity, field, record, viewer)
    if field in READ_ONLY_FIELDS or (is_deep_profile_field(entity, field)
                                     and read is Read.HIDDEN and record is not None):
        return Decision(read, Write.NONE, kind)
    return Decision(read, _write_access(entity, field, viewer), kind)


def _resolve(entity: str, field: str, record):
    """Follow ``relation.field`` names to the related entity and record."""
    while "." in field and not field.startswith(CUSTOM_PREFIX):
        relation, _, rest = field.partition(".")
        if relation not in RELATED_ENTITIES:
            # Another relation (a product, a staff member): judged by the field's own name, so
            # a sensitive name is masked wherever it hangs.
            return entity, field.rsplit(".", 1)[-1], record
        entity = RELATED_ENTITIES[relation]
        record = getattr(record, relation, None) if record is not None else None
        field = rest
    return entity, field, record


def _read_builtin(entity: str, name: str, record, viewer: Viewer):
    if record is not None and not _record_readable(record, viewer):
        return Read.HIDDEN, None
    sensitive = name in SENSITIVE_FIELDS or is_deep_profile_field(entity, name)
    if sensitive and not viewer.has("can_read", CUSTOMER_VIEW):
        return Read.HIDDEN, None
    if is_deep_profile_field(entity, name):
        customer = customer_of(record) if record is not None else None
        if record is not None and customer is None:
            return Read.HIDDEN, None
        return (Read.VISIBLE if may_see_deep_profile(customer, viewer) else Read.HIDDEN), None
    if name in SENSITIVE_FIELDS:
        return Read.MASKED, SENSITIVE_FIELDS[name]
    return Read.VISIBLE, None


# While a page's records are presented (``presenting_records``): (record, viewer) -> readable.
_readable_memo: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "crm_readable_memo", default=None)


@contextlib.contextmanager
def presenting_records():
    """Within the block, each record's readability is decided once per viewer.

    A list page presents its records cell by cell (seven cells of 25 records) and a show page
    field by field, and every cell asked again whether its record's customer is in the viewer's
    scope: the same answer, most of the cost of presenting a value. The records do not change
    while a page is written out; the memo goes with the block (keyed by object identity, valid
    only while the page holds the records).
    """
    token = _readable_memo.set({})
    try:
        yield
    finally:
        _readable_memo.reset(token)


def _record_readable(record, viewer: Viewer) -> bool:
    memo = _readable_memo.get()
    if memo is None:
        return _decide_record_readable(record, viewer)
    key = (id(record), id(viewer))
    found = memo.get(key)
    if found is None:
        found = memo[key] = _decide_record_readable(record, viewer)
    return found


def _decide_record_readable(record, viewer: Viewer) -> bool:
    """Whether the viewer may read this customer's data at all: a role that reads customers,
    and the customer in its scope.

    Requests read through the scoped session, so their records passed already; pipelines load
    records without it (an import matching an existing customer, a job's output), and this is
    where such a path stops showing an operator anything of a customer the operator could not
    open. Only a customer already in memory is checked: loading one per displayed cell would
    cost a query per row on every list, and an unloaded one came through the scoped session.
    """
    customer = _loaded_customer(record)
    if customer is None or viewer.scope.kind == "all" and viewer.has("can_read", CUSTOMER_VIEW):
        return True
    return viewer.has("can_read", CUSTOMER_VIEW) and viewer.scope.permits_customer(customer)


def _loaded_customer(record):
    from sqlalchemy import inspect
    from sqlalchemy.orm.base import NO_VALUE

    from models import Customer

    if isinstance(record, Customer):
        return record
    state = inspect(record, raiseerr=False)
    if state is None or "customer" not in state.attrs:
        return None
    loaded = state.attrs.customer.loaded_value
    return None if loaded is NO_VALUE else loaded


def read_access(entity: str, field: str, record=None,
                viewer: Viewer | None = None) -> tuple[Read, str | None]:
    """The read half of :func:`decide` alone (what every displayed cell asks): the access and
    the masking kind."""
    viewer = viewer or current_viewer()
    if viewer.is_system:
        return Read.VISIBLE, None
    if viewer.user is None:
        return Read.HIDDEN, None
    entity, field, record = _resolve(entity, field, record)
    if field.startswith(CUSTOM_PREFIX):
        decision = _decide_custom(entity, field[len(CUSTOM_PREFIX):], record, viewer,
                                  with_write=False)
        return decision.read, decision.mask_kind
    return _read_builtin(entity, field, record, viewer)


def _decide_custom(entity: str, key: str, record, viewer: Viewer,
                   with_write: bool = True) -> Decision:
    spec = field_hooks.custom_fields().spec(entity.lower(), key)
    if spec is None or not spec.active or not spec.visible_to(viewer.roles):
        return Decision(Read.HIDDEN, Write.NONE)
    if entity == CUSTOMER_VIEW and not (viewer.has("can_read", CUSTOMER_VIEW) and (
            record is None or _record_readable(record, viewer))):
        # Import pipelines write fields they may not read back (an operator's own file).
        write = _write_access(entity, CUSTOM_PREFIX + key, viewer) \
            if with_write and spec.editable_by(viewer.roles) else Write.NONE
        return Decision(Read.HIDDEN, write)
    kind = custom_kind(spec)
    read = Read.MASKED if kind else Read.VISIBLE
    if not with_write or not spec.editable_by(viewer.roles):
        return Decision(read, Write.NONE, kind)
    write = _write_access(entity, CUSTOM_PREFIX + key, viewer)
    return Decision(read, write, kind)


def _write_access(entity: str, field: str, viewer: Viewer) -> Write:
    """Editable for those who write the entity on screens, or who import it (operators: their
    files write customers they may not read back)."""
    importer = IMPORT_PERMISSIONS.get(entity)
    if not (viewer.has("can_write", entity)
            or importer is not None and viewer.has(importer, IMPORT_VIEW)):
        return Write.NONE
    if entity != CUSTOMER_VIEW:
        return Write.EDITABLE
    if field_hooks.is_reviewed(viewer.user, field):
        return Write.REVIEWED
    return Write.EDITABLE


# --- what a path shows ----------------------------------------------------------------------


def shown(entity: str, field: str, record, value, viewer: Viewer | None = None):
    """``value`` of ``entity.field`` as the viewer may see it: as it is, masked, or withheld."""
    read, kind = read_access(entity, field, record, viewer)
    if read is Read.HIDDEN:
        return HIDDEN_TEXT
    if read is Read.MASKED:
        return mask_value(kind, value)
    return value


# --- the operation log ----------------------------------------------------------------------


def log_read_access(entity: str | None, field: str, viewer: Viewer | None = None) -> Read:
    """What a reader of the operation log (auditors) sees of a value a log row recorded.

    The log is the auditor's path to customer data: who changed what, and when. Sensitive values
    were masked or blind-indexed before the row was written (``backoffice.audit.redact``), so
    they read masked here; deep-profile values stay with those who may see every customer's
    deep profile; a custom field stays within the roles its definition names, whatever the
    reader's role, and a key no definition explains is withheld.
    """
    viewer = viewer or current_viewer()
    if viewer.is_system:
        return Read.VISIBLE
    if viewer.user is None:
        return Read.HIDDEN
    entity = _log_entity(entity)
    if field.startswith(CUSTOM_PREFIX):
        spec = field_hooks.custom_fields().spec(entity.lower(), field[len(CUSTOM_PREFIX):])
        if spec is None or not spec.visible_to(viewer.roles):
            return Read.HIDDEN
        return Read.MASKED if custom_kind(spec) else Read.VISIBLE
    name = field.rsplit(".", 1)[-1]
    if is_deep_profile_field(entity, name) or name in DEEP_PROFILE_FIELDS["Customer"]:
        return Read.VISIBLE if may_see_deep_profile(None, viewer) else Read.HIDDEN
    if name in SENSITIVE_FIELDS:
        return Read.MASKED
    return Read.VISIBLE


def _log_entity(entity: str | None) -> str:
    """A log row's entity as a model class name (rows name tables or classes)."""
    if not entity:
        return CUSTOMER_VIEW
    return {"customer": "Customer", "account": "Account", "interaction": "Interaction",
            "campaign": "Campaign"}.get(entity, entity)


def log_detail_shown(entity: str | None, detail, viewer: Viewer | None = None):
    """A log row's detail document with every value the reader may not see withheld."""
    viewer = viewer or current_viewer()
    if viewer.is_system:
        return detail
    return _walk_detail(_log_entity(entity), detail, viewer)


def _walk_detail(entity: str, node, viewer: Viewer):
    if isinstance(node, list):
        return [_walk_detail(entity, item, viewer) for item in node]
    if not isinstance(node, dict):
        return node
    shown_node = {}
    for key, value in node.items():
        name = str(key)
        if name == "custom_fields" and isinstance(value, dict):
            value = {inner: (HIDDEN_TEXT if log_read_access(
                entity, CUSTOM_PREFIX + str(inner), viewer) is Read.HIDDEN
                else _walk_detail(entity, inner_value, viewer))
                for inner, inner_value in value.items()}
        elif log_read_access(entity, name, viewer) is Read.HIDDEN:
            value = HIDDEN_TEXT
        else:
            value = _walk_detail(entity, value, viewer)
        shown_node[key] = value
    return shown_node
