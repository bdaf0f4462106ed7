"""Maker-checker review (信息录入审核): the use cases, shared by screens, API and pipelines.

A maker (anyone who may write customers but holds no approval right: tellers, relationship
managers) who creates a customer or changes a reviewed field files a change request instead of
writing; the live record stays as it was. A checker (``can_approve`` on ``ChangeRequest``: branch
managers for their branch, senior managers for all) other than the maker approves it, and the
approval applies in one transaction, or nothing applies.

Why the whole edit waits, not just its reviewed part: an edit is one intention of its maker
(a new mobile together with new consent flags); applying half of it would leave a record the
maker never asked for, and the half applied at once would make the pending half stale anyway
(the record's version moves on).

Each use case validates first, collecting every problem, then does its work in a transaction it
owns (it commits), and runs under the record scope of the acting user, so a request or customer
the actor may not see does not exist for it (``NotVisible``, a 404 on every path).

Moving a customer to another branch and changing its status (closed, deceased) are reviewed
fields like the others. A move is also reviewed for a checker whose scope does not cover the new
branch: a branch manager cannot hand a customer to another branch on their own say, and cannot
approve a maker's move there either; the move is filed (the filer answers for the record as it
stands) and waits for a checker whose scope covers both branches, a senior manager. An ``own``
scope covers no branch, so whoever holds one never moves a record out of its branch without a
checker, approval rights or not.
"""
from __future__ import annotations

from flask import has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from backoffice.security.current import current_user
from backoffice.errors import WriteRefused
from backoffice.extensions import db
from backoffice.notifications.sources import change_request_waiting
from backoffice.review import values as v
from backoffice.security import scopes
from backoffice.security.permissions import has_permission
from models import ChangeRequest, Customer
from models.base import utcnow

# Reviewed customer fields, as data (tier_override: the reviewed override of the computed tier;
# branch_id: a move to another branch; status: closing, or recording a death).
REVIEWED_FIELDS = ["name", "id_type", "id_number", "mobile", "risk_tolerance", "owner_id",
                   "branch_id", "status", "tier_override"]
# Custom fields flagged "reviewed": callables ``entity -> iterable of keys``, the custom-field
# room's added by ``backoffice.review.register``.
REVIEWED_CUSTOM_FIELD_SOURCES: list = []
PERMISSION_VIEW = "ChangeRequest"
MAX_REASON = 500


class NotVisible(Exception):
    """The request or customer does not exist for this user (out of scope, or no such id)."""


class ReviewRefused(WriteRefused):
    """The review action breaks a rule; ``status`` is the HTTP status that fits it best."""

    def __init__(self, errors: dict, status: int = 409):
        super().__init__(errors)
        self.status = status


class SubmittedForReview(Exception):
    """Raised by a write path after filing a change request instead of writing."""

    def __init__(self, request: ChangeRequest):
        self.request = request
        self.request_id = request.id
        super().__init__(str(submitted_message(request)))


def submitted_message(request: ChangeRequest):
    if request.kind == "create":
        return _l("The new customer was submitted for review (request %(id)s); it is created "
                  "once a reviewer approves it.", id=request.id)
    return _l("Your change was submitted for review (request %(id)s); the customer record "
              "stays as it was until a reviewer approves it.", id=request.id)


# --- who is what ----------------------------------------------------------------------------


def reviewed_fields(entity: str = "customer") -> list[str]:
    """The fields whose change by a maker needs review (custom fields as ``custom_fields.key``)."""
    known = set(v.proposable_fields())
    names = [f for f in REVIEWED_FIELDS if f in known]
    for source in REVIEWED_CUSTOM_FIELD_SOURCES:
        names.extend(f"{v.CUSTOM}.{key}" for key in source(entity))
    return names


def may_approve(user) -> bool:
    return has_permission(user, "can_approve", PERMISSION_VIEW)


def needs_review(user) -> bool:
    """Whether a write by this user waits for a checker: yes for anyone without approval rights
    (a role an admin invents included); no for checkers, and for ``None`` (the CLI, a system job
    acting as nobody), which write directly."""
    return user is not None and not may_approve(user)


def change_is_reviewed(user, field: str) -> bool:
    """The rule the field-access policy asks through ``backoffice.security.field_hooks``
    (registered by ``backoffice.review.register``): whether this user's change of the customer
    field ``field`` waits for a checker."""
    return needs_review(user) and field in reviewed_fields()


def covers_branch(scope, branch_id) -> bool:
    """Whether ``scope`` covers every customer of a branch, whoever owns them (an ``own``
    scope covers none: it follows people, not branches)."""
    return scope is not None and scope.permits_customer(Customer(branch_id=branch_id))


def moves_beyond_scope(actor, live: dict, changes: dict) -> bool:
    """Whether a change moves the customer to a branch the actor's scope does not cover (it
    then waits for a checker whose scope does, whoever the actor is)."""
    return "branch_id" in changes and changes["branch_id"] != live.get("branch_id") \
        and not covers_branch(scopes.scope_for_user(actor), changes["branch_id"])


def _may_move_here(actor, item: Customer) -> bool:
    """A checker's populated edit that keeps the branch, or moves it within the checker's scope
    (read off the object: the committed branch against the one the write path set)."""
    state = sa_inspect(item)  # histories load nothing (no autoflush of the populated edit)
    history = state.attrs["branch_id"].history
    committed = (history.deleted or history.unchanged or (None,))[0]
    added = state.attrs["branch"].history.added
    branch_id = (getattr(added[0], "id", None) if added else item.branch_id)
    if committed is None:
        return False  # not known without the database: the slow path decides
    return branch_id == committed or covers_branch(scopes.scope_for_user(actor), branch_id)


# --- filing ----------------------------------------------------------------------------------


def submit_customer_change(item: Customer, actor=None) -> ChangeRequest | None:
    """The review gate of a write path that has populated (and validated) ``item``.

    Returns None when the write may go ahead as it is (a checker, or no reviewed field touched).
    Otherwise the live record is put back as it was, a change request holding the whole edit (or
    the whole new customer) is filed, and the request is returned: the caller must not write.
    """
    actor = actor if actor is not None else current_user()
    if actor is None:
        return None
    maker = needs_review(actor)
    persistent = _is_persistent(item)
    if not maker and (not persistent or _may_move_here(actor, item)):
        return None
    proposed = v.snapshot(item)
    if not persistent:
        # The form sealed the new customer's sensitive custom values for this draft's
        # record_uid: the customer approval creates keeps it, so that they open.
        return propose_create(actor, proposed, record_uid=item.record_uid)
    # Drop the edit: the live record stays as it was. A rollback, not a refresh: the write path's
    # own queries (scope check, validation) may already have autoflushed the edit.
    db.session.rollback()
    live = v.snapshot(item)
    changes = v.changes_between(live, proposed)
    if (maker and _touches_reviewed(live, changes)) or moves_beyond_scope(actor, live, changes):
        return propose_update(actor, item, changes)
    v.apply_values(item, changes, db.session)  # nothing reviewed: the edit applies directly
    return None


def change_customer(actor, customer_id: int, values: dict) -> ChangeRequest | None:
    """Change a customer (pipelines): directly for a checker or when no reviewed field is
    touched, else through a change request (returned)."""
    with _acting_as(actor):
        customer = _visible_customer(customer_id)
        live = v.snapshot(customer)
        changes = v.changes_between(live, _known(values))
        if (needs_review(actor) and _touches_reviewed(live, changes)) \
                or moves_beyond_scope(actor, live, changes):
            return propose_update(actor, customer, changes)
        candidate = _candidate(live, changes)
        errors = _named_move(_record_errors(candidate, scopes.current()), live, changes)
        if errors:
            db.session.rollback()
            raise ReviewRefused(errors, status=422)
        v.apply_values(customer, changes, db.session)
        _commit_or_refuse()
        return None


def create_customer(actor, values: dict) -> Customer | ChangeRequest:
    """Create a customer (pipelines): at once for a checker (the new Customer), else a change
    request for review (the ChangeRequest)."""
    if needs_review(actor):
        return propose_create(actor, values)
    with _acting_as(actor) if actor is not None else _unscoped():
        values = _known(values)
        errors = _record_errors(_candidate({}, values), scopes.current())
        if not values.get("branch_id"):
            errors["branch"] = str(_l("Choose the customer's branch."))
        if errors:
            raise ReviewRefused(errors, status=422)
        try:
            customer = _new_customer(values)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise ReviewRefused({"_": str(_unique_taken())}, status=409) from None
        except Exception:
            db.session.rollback()
            raise
        return customer


def propose_update(actor, customer: Customer, changes: dict) -> ChangeRequest:
    """File the change of a visible customer for review."""
    with _acting_as(actor):
        errors = {}
        changes = _known(changes)
        if not changes:
            errors["_"] = _l("Nothing to change: the values are the same as the record's.")
        live = v.snapshot(customer)
        candidate = _candidate(live, changes)
        # The filer answers for the record as it stands; the branch it moves to is the
        # approver's to cover (a branch manager files a move out of their branch).
        staying = _candidate(live, {k: val for k, val in changes.items() if k != "branch_id"})
        errors.update(_record_errors(candidate, scopes.current(), staying))
        if errors:
            raise ReviewRefused(errors, status=422)
        request = ChangeRequest(entity="customer", kind="update", status="pending",
                                customer_id=customer.id, branch_id=customer.branch_id,
                                base_version=customer.version, maker_id=actor.id)
        request.values = changes
        return _file(request, actor)


def propose_create(actor, values: dict, record_uid: str | None = None) -> ChangeRequest:
    """File a new customer for review: it does not exist until approved.

    The request's ``record_uid`` is the identity the customer will have once approved: the
    draft's (``record_uid``, when a form or API call populated one) or a new one. Values sealed
    for it (sensitive custom fields) therefore open on the created customer; the payload itself
    is sealed for the ``change_request`` table, so sharing the uid opens nothing across tables.
    """
    with _acting_as(actor):
        values = _known(values)
        values.pop("id", None)
        candidate = _candidate({}, values)
        errors = _record_errors(candidate, scopes.current())
        if not values.get("branch_id"):
            errors["branch"] = str(_l("Choose the customer's branch."))
        if errors:
            raise ReviewRefused(errors, status=422)
        identity = {"record_uid": record_uid} if record_uid else {}
        request = ChangeRequest(entity="customer", kind="create", status="pending",
                                branch_id=values["branch_id"], maker_id=actor.id, **identity)
        request.values = values
        return _file(request, actor)


def _file(request: ChangeRequest, actor) -> ChangeRequest:
    try:
        db.session.add(request)
        db.session.flush()
        _audit("propose", request, actor, detail={"kind": request.kind, "fields": request.fields})
        change_request_waiting(db.session, request, actor)  # its checkers are told
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return request


# --- deciding --------------------------------------------------------------------------------


def approve(actor, request_id: int) -> ChangeRequest:
    """Apply a pending request, atomically, for a checker other than its maker.

    Refused (nothing applies): the actor's own request, no approval right, a decided request, a
    stale one (the customer's version moved since it was filed), a customer now outside the
    actor's scope, or a result that breaks the customer rules or would leave the actor's scope.
    """
    with _acting_as(actor):
        request = _visible_request(request_id)
        errors = _decider_errors(actor, request)
        customer, live = None, {}
        if request.kind == "update":
            customer = _load(Customer, request.customer_id)
            if customer is None:
                errors["record"] = str(_l("The customer no longer exists or is outside "
                                          "your scope."))
            elif customer.version != request.base_version:
                errors["version"] = str(_stale_message())
            else:
                live = v.snapshot(customer)
        proposed = request.values
        if not errors:
            errors.update(_named_move(_record_errors(_candidate(live, proposed),
                                                     scopes.current()), live, proposed))
        if errors:
            db.session.rollback()
            raise _refused(errors)

        try:
            if customer is None:
                customer = _new_customer(proposed, record_uid=request.record_uid)
            else:
                v.apply_values(customer, proposed, db.session)
                _normalise(customer)
            request.status, request.checker_id = "approved", actor.id
            request.decided_at = utcnow()
            db.session.flush()  # the customer's and the request's versions guard concurrent writers
            request.customer_id = customer.id
            _audit("approve", request, actor, detail=_approval_detail(request, live, customer))
            db.session.commit()
        except StaleDataError:
            db.session.rollback()
            raise ReviewRefused({"version": str(_stale_message())}, status=409) from None
        except IntegrityError:
            db.session.rollback()
            raise ReviewRefused({"_": str(_unique_taken())}, status=409) from None
        except Exception:
            db.session.rollback()  # the log or anything else failed: nothing applies
            raise
        return request


def reject(actor, request_id: int, reason: str) -> ChangeRequest:
    """Turn a pending request down, with a reason the maker sees."""
    with _acting_as(actor):
        request = _visible_request(request_id)
        errors = _decider_errors(actor, request)
        reason = (reason or "").strip()
        if not reason:
            errors["reason"] = str(_l("Give the reason for the rejection."))
        elif len(reason) > MAX_REASON:
            errors["reason"] = str(_l("The reason is too long (at most %(n)s characters).",
                                      n=MAX_REASON))
        if errors:
            raise _refused(errors)
        request.status, request.checker_id, request.decided_at = "rejected", actor.id, utcnow()
        request.reason = reason
        return _decide(request, actor, "reject", {"reason_given": True})


def withdraw(actor, request_id: int) -> ChangeRequest:
    """The maker takes back their own pending request."""
    with _acting_as(actor):
        request = _visible_request(request_id)
        errors = {}
        if request.maker_id != actor.id:
            errors["maker"] = str(_l("Only the person who made a request can withdraw it."))
        if request.status != "pending":
            errors["status"] = str(_l("This request has already been decided."))
        if errors:
            raise _refused(errors)
        request.status, request.decided_at = "withdrawn", utcnow()
        return _decide(request, actor, "withdraw", None)


def _decide(request, actor, action, detail) -> ChangeRequest:
    try:
        db.session.flush()
        _audit(action, request, actor, detail)
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise ReviewRefused({"status": str(_l("This request has already been decided."))},
                            status=409) from None
    except Exception:
        db.session.rollback()
        raise
    return request


def _decider_errors(actor, request) -> dict:
    """Every reason this actor may not decide this request."""
    errors = {}
    if request.maker_id == actor.id:
        errors["maker"] = str(_l("You cannot approve or reject your own request; another "
                                 "reviewer must decide it."))
    if not may_approve(actor):
        errors["permission"] = str(_l("You have no right to approve change requests."))
    if request.status != "pending":
        errors["status"] = str(_l("This request has already been decided."))
    return errors


def _refused(errors: dict) -> ReviewRefused:
    """The refusal, with the HTTP status of its gravest reason: who you are (403), the state
    of the request or record (409), then the values (422)."""
    if errors.keys() & {"maker", "permission"}:
        return ReviewRefused(errors, status=403)
    if errors.keys() & {"status", "version", "record"}:
        return ReviewRefused(errors, status=409)
    return ReviewRefused(errors, status=422)


# --- reading (screens and API) ---------------------------------------------------------------


def get_request(actor, request_id: int) -> ChangeRequest:
    """A request the actor may see, else ``NotVisible``."""
    with _acting_as(actor):
        return _visible_request(request_id)


def pending_for(actor, limit: int = 200) -> list[ChangeRequest]:
    """Pending requests in the actor's scope that someone other than the actor made."""
    with _acting_as(actor):
        return list(db.session.scalars(
            select(ChangeRequest).where(ChangeRequest.status == "pending",
                                        ChangeRequest.maker_id != actor.id)
            .order_by(ChangeRequest.created_at, ChangeRequest.id).limit(limit)))


def requests_of(actor, limit: int = 200) -> list[ChangeRequest]:
    """The actor's own requests, newest first."""
    with _acting_as(actor):
        return list(db.session.scalars(
            select(ChangeRequest).where(ChangeRequest.maker_id == actor.id)
            .order_by(ChangeRequest.created_at.desc(), ChangeRequest.id.desc()).limit(limit)))


def is_stale(request: ChangeRequest) -> bool:
    """A pending update whose customer has changed since it was filed (cannot be approved)."""
    if request.kind != "update" or request.status != "pending":
        return False
    customer = _load(Customer, request.customer_id)
    return customer is None or customer.version != request.base_version


def visible_customer(actor, customer_id):
    """The live customer, if the actor may see it (for diffs), else None."""
    if customer_id is None:
        return None
    with _acting_as(actor):
        return _load(Customer, customer_id)


# --- helpers ---------------------------------------------------------------------------------


def _acting_as(actor):
    if actor is None:
        raise ReviewRefused({"_": str(_l("Sign in first."))}, status=403)
    return scopes.as_scope(scopes.scope_for_user(actor))


def _load(model, pk):
    """Load through the scoped session, fresh from the database (never a stale identity-map
    copy, which would also skip the scope)."""
    if pk is None:
        return None
    return db.session.scalars(
        select(model).where(model.id == pk).execution_options(populate_existing=True)
    ).one_or_none()


def _visible_request(request_id) -> ChangeRequest:
    try:
        request = _load(ChangeRequest, int(request_id))
    except (TypeError, ValueError):
        request = None
    if request is None:
        raise NotVisible(request_id)
    return request


def _visible_customer(customer_id) -> Customer:
    customer = _load(Customer, customer_id)
    if customer is None:
        raise NotVisible(customer_id)
    return customer


def _is_persistent(item) -> bool:
    from sqlalchemy import inspect

    state = inspect(item)
    return state.persistent or state.detached


def _known(values: dict) -> dict:
    allowed = set(v.proposable_fields())
    return {field: value for field, value in values.items() if field in allowed}


def _touches_reviewed(live: dict, changes: dict) -> bool:
    return bool(v.touched_fields(live, changes) & set(reviewed_fields()))


def _candidate(live: dict, changes: dict) -> Customer:
    """A detached customer holding the live values with the changes applied, for validation."""
    candidate = Customer()
    v.apply_values(candidate, {**live, **changes})
    return candidate


def _record_errors(candidate: Customer, scope, scope_subject: Customer | None = None) -> dict:
    """Customer rules plus the writer's scope, on the record as it would be (the scope on
    ``scope_subject`` instead when given)."""
    from backoffice.customers import rules

    errors = dict(rules.customer_errors(candidate))
    if not (candidate.name or "").strip():
        errors["name"] = str(_l("Enter the customer's name."))
    subject = candidate if scope_subject is None else scope_subject
    if scope is not None and not scope.permits_customer(subject):
        errors["customer"] = str(_l("You may only record data about customers in your own "
                                    "scope."))
    return errors


def _named_move(errors: dict, live: dict, changes: dict) -> dict:
    """Say so when what leaves the actor's scope is a move to a branch the scope does not
    cover: the move is not refused for good, it needs a checker whose scope covers it."""
    if "customer" in errors and "branch_id" in changes \
            and changes["branch_id"] != live.get("branch_id") \
            and not covers_branch(scopes.current(), changes["branch_id"]):
        errors = {k: val for k, val in errors.items() if k != "customer"}
        errors["branch"] = str(_l("This moves the customer to a branch outside your scope; a "
                                  "reviewer whose scope covers that branch (a senior manager) "
                                  "must approve it."))
    return errors


def _new_customer(values: dict, record_uid: str | None = None) -> Customer:
    """A new customer from JSON values, numbered and added to the session (not committed);
    ``record_uid``: the identity its sealed values were made for (a reviewed creation)."""
    from backoffice.customers import rules

    identity = {"record_uid": record_uid} if record_uid else {}
    customer = Customer(custom_fields={}, status="active", **identity)
    v.apply_values(customer, values, db.session)
    customer.customer_no = rules.next_customer_no()
    _normalise(customer)
    db.session.add(customer)
    return customer


def _unscoped():
    return scopes.as_scope(scopes.UNRESTRICTED)


def _unique_taken():
    return _l("The database refused the change (a value that must be unique is taken); "
              "nothing was applied.")


def _normalise(customer: Customer) -> None:
    from backoffice.customers import rules

    rules.normalise(customer)


def _commit_or_refuse() -> None:
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise ReviewRefused({"version": str(_stale_message())}, status=409) from None


def _stale_message():
    return _l("The customer has changed since this request was made; it can no longer be "
              "approved. Reject it, or have the maker file it again.")


def _approval_detail(request, live: dict, customer: Customer) -> dict:
    """What the log keeps of an approval: field, before and after, sensitive values masked.

    Custom fields are logged one by one (``custom_fields.<key>``) in the form the customer's own
    log rows use: a sensitive value opened only to be masked, never its ciphertext.
    """
    after = v.snapshot(customer)
    changes = {}
    for field in sorted(request.fields):
        if field == v.CUSTOM:
            changes.update(_custom_changes(live.get(v.CUSTOM) or {}, after.get(v.CUSTOM) or {},
                                           customer.record_uid))
        else:
            changes[field] = [_masked(field, live.get(field)), _masked(field, after.get(field))]
    return {"kind": request.kind, "request_uid": request.record_uid, "changes": changes}


def _custom_changes(before: dict, after: dict, uid) -> dict:
    """``custom_fields.<key>`` -> [before, after] for every custom value the approval changed."""
    from backoffice.fields.display import logged_stored
    from backoffice.fields.registry import field_spec

    changes = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        spec = field_spec("customer", key, include_archived=True)
        if spec is None:  # no definition to say it is not sensitive: keep no value
            changes[f"{v.CUSTOM}.{key}"] = [_HIDDEN_IN_LOG if old is not None else None,
                                            _HIDDEN_IN_LOG if new is not None else None]
            continue
        changes[f"{v.CUSTOM}.{key}"] = [logged_stored(spec, old, uid),
                                        logged_stored(spec, new, uid)]
    return changes


_HIDDEN_IN_LOG = "******"


def _masked(field, value):
    from backoffice.security.masking import mask_field

    return mask_field(field, value)


def _audit(action, request: ChangeRequest, actor, detail) -> None:
    """Log the review event in the same transaction (lazy: the log is its own room)."""
    if not has_app_context():
        return
    from backoffice.audit.log import record

    record(action, entity="ChangeRequest", entity_id=request.id,
           customer_id=request.customer_id, detail=detail, actor=actor)

