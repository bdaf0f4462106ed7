"""The field-by-field diff a reviewer decides on, as the viewer may see it.

Old values are read from the live customer through the viewer's record scope (a maker whose
customer has since left their book sees only what they proposed). Each built-in value is
hidden, masked (the shared ``mask_value`` rules) or shown as the field-access policy decides for
this viewer and this customer, as on the customer's own pages. Codes are shown as
their labels, relations by name, so the reviewer reads what the maker chose.

Custom fields are presented by ``backoffice.fields.display`` exactly as on the customer's own
pages: labelled in the viewer's language, a sensitive value opened (it is sealed for the
customer's ``record_uid``) only to be masked, and a field the viewer's roles may not see left
out of the diff altogether.
"""
from __future__ import annotations

from dataclasses import dataclass

from backoffice.extensions import db
from backoffice.review import values as v

HIDDEN = "—"
# Column name -> label key in CUSTOMER_LABELS (relations are labelled by their relation name).
_LABEL_KEYS = {"owner_id": "owner", "teller_id": "teller", "branch_id": "branch"}


@dataclass
class DiffRow:
    field: str
    label: str
    old: str | None
    new: str | None
    changed: bool
    reviewed: bool

    def as_dict(self) -> dict:
        return {"field": self.field, "label": self.label, "old": self.old, "new": self.new,
                "changed": self.changed, "reviewed": self.reviewed}


def diff_rows(request, viewer, live_customer=None) -> list[DiffRow]:
    """One row per field the request sets: live value (if visible and pending) -> proposed.

    ``changed`` is True for every row of a decided or new-customer request (nothing to compare
    with); a masked value may read the same before and after, so ``changed`` says it is not."""
    from backoffice.review.service import reviewed_fields

    proposed = request.values
    live = v.snapshot(live_customer) if live_customer is not None else {}
    show_old = request.status == "pending" and live_customer is not None
    subject = live_customer if live_customer is not None else _as_customer(proposed)
    present = _presenter(viewer, subject)
    reviewed = set(reviewed_fields())
    rows = []
    for field in sorted(proposed, key=_field_order):
        if field == v.CUSTOM:
            rows.extend(_custom_rows(request, viewer, live_customer, live.get(v.CUSTOM) or {},
                                     proposed[field] or {}, show_old, reviewed))
            continue
        old = live.get(field) if show_old else None
        new = proposed[field]
        if request.kind == "create" and new in (None, ""):
            continue  # a new customer: only what the maker filled in
        rows.append(DiffRow(field, label(field),
                            present(field, old) if show_old else None, present(field, new),
                            (old != new) if show_old else True, field in reviewed))
    return rows


def _custom_rows(request, viewer, live_customer, old_values: dict, new_values: dict,
                 show_old: bool, reviewed: set) -> list[DiffRow]:
    """The rows of the custom fields a request sets, as this viewer may see them.

    A proposed custom value is in storage form, sealed (when sensitive) for the customer it is
    about: the live customer's ``record_uid`` for a change, the ``record_uid`` the new customer
    will have (the request's, see ``service.propose_create``) for a creation.
    """
    from backoffice.fields import display
    from backoffice.fields.registry import field_spec

    roles = viewer_roles(viewer)
    uid = live_customer.record_uid if live_customer is not None else (
        request.record_uid if request.kind == "create" else None)
    rows = []
    # The proposed document replaces the whole stored one: a key it drops is a value removed.
    keys = set(new_values) | (set(old_values) if show_old else set())
    specs = [(key, field_spec("customer", key, include_archived=True)) for key in keys]
    for key, spec in sorted(specs, key=lambda item: _custom_order(*item)):
        name = f"{v.CUSTOM}.{key}"
        if spec is None:  # no definition (the screens never delete one): show no value
            rows.append(DiffRow(name, key, HIDDEN if show_old else None, HIDDEN,
                                not show_old or old_values.get(key) != new_values.get(key),
                                name in reviewed))
            continue
        if roles is not None and not spec.visible_to(roles):
            continue  # a role that may not see a field meets it nowhere, diffs included
        old, new = old_values.get(key) if show_old else None, new_values.get(key)
        rows.append(DiffRow(
            name, spec.label(),
            display.shown_stored(spec, old, uid, roles) if show_old else None,
            display.shown_stored(spec, new, uid, roles),
            _differs(spec, old, new, uid) if show_old else True, name in reviewed))
    return rows


def _custom_order(key, spec):
    if spec is None:
        return (1, "", 0, key)
    return (0, spec.section or "", spec.order, key)


def _differs(spec, old, new, uid) -> bool:
    """Whether a custom value really changes (a re-sealed sensitive value reads differently
    each time it is sealed: compare what it holds)."""
    if not spec.sensitive or old is None or new is None:
        return old != new
    from backoffice.fields import values as fv

    try:
        return fv.from_storage(spec, old, uid) != fv.from_storage(spec, new, uid)
    except Exception:  # noqa: BLE001 - cannot tell: say it changes
        return True


def viewer_roles(viewer) -> tuple[str, ...] | None:
    """Role names of the viewer (None: nobody in particular, every field in play)."""
    if viewer is None:
        return None
    return tuple(role.name for role in getattr(viewer, "roles", None) or ())


def label(field: str) -> str:
    from backoffice.customers.labels import CUSTOMER_LABELS

    if field.startswith(v.CUSTOM + "."):
        from backoffice.fields.registry import field_spec

        spec = field_spec("customer", field[len(v.CUSTOM) + 1:], include_archived=True)
        if spec is not None:
            return spec.label()
    key = _LABEL_KEYS.get(field, field)
    return str(CUSTOMER_LABELS.get(key) or field)


def field_labels(request, viewer) -> list[str]:
    """What a list says the request touches: built-in labels, and the labels of the custom
    fields it sets that the viewer may see (names only; no value is shown)."""
    roles = viewer_roles(viewer)
    labels = []
    for field in request.fields or []:
        if field != v.CUSTOM:
            labels.append(label(field))
            continue
        from backoffice.fields.registry import field_spec

        for key in sorted(request.values.get(v.CUSTOM) or {}):
            spec = field_spec("customer", key, include_archived=True)
            if spec is not None and (roles is None or spec.visible_to(roles)):
                labels.append(spec.label())
    return labels


def _field_order(field: str):
    from backoffice.review.service import reviewed_fields

    order = reviewed_fields()
    return (order.index(field) if field in order else len(order), field)


def _as_customer(values: dict):
    """A detached customer made of proposed values, for the deep-profile rule of a new one."""
    from models import Customer

    customer = Customer()
    v.apply_values(customer, values)
    return customer


def _presenter(viewer, customer):
    """``present(field, json_value) -> text`` for this viewer and customer.

    The policy decides each field (hidden, masked or visible for this reviewer and this
    customer), as on the customer's own pages. Without a viewer (nobody in particular) every
    sensitive value is masked.
    """
    from backoffice.security import policy

    who = policy.viewer_for(viewer) if viewer is not None else None

    def present(field, value):
        if value is None or value == "":
            return None
        if who is None:
            kind = _sensitive_kind(field)
            return _mask(kind, value) if kind is not None else _readable(field, value)
        read, kind = policy.read_access("Customer", field, customer, who)
        if read is policy.Read.HIDDEN:
            return HIDDEN
        if read is policy.Read.MASKED:
            return _mask(kind, value)
        return _readable(field, value)

    return present


def _sensitive_kind(field: str):
    from backoffice.security.masking import SENSITIVE_FIELDS

    return SENSITIVE_FIELDS.get(field)


def _mask(kind, value) -> str:
    from backoffice.security.masking import mask_value

    return mask_value(kind, value)


def _readable(field: str, value) -> str:
    """A JSON value as the screens show it: labels for codes, names for relations."""
    from models import Branch, Staff
    from models import choices as c

    codes = {"customer_type": c.CUSTOMER_TYPES, "gender": c.GENDERS, "id_type": c.ID_TYPES,
             "risk_tolerance": c.RISK_TOLERANCES, "status": c.CUSTOMER_STATUSES,
             "tier_override": getattr(c, "TIERS", {})}
    if field in codes:
        return str(codes[field].get(value, value))
    if field in ("owner_id", "teller_id"):
        staff = db.session.get(Staff, value)
        return str(staff) if staff is not None else str(value)
    if field == "branch_id":
        branch = db.session.get(Branch, value)
        return branch.name if branch is not None else str(value)
    if isinstance(value, bool):
        from backoffice.formatting import yes_no

        return yes_no(value)
    return str(value)
