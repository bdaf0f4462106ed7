"""Custom fields a rule's "set a field" action may set, checked and written as a screen edit is.

Admins add customer fields without code (``backoffice.fields``), and expect rules to set them
like the columns. A rule names one as ``custom_fields.<key>``: the name the field policy, review
and the operation log give it. Whether a rule may set a field is asked when its author picks it
on the form and again every time the rule runs, since the field, or the author's roles, may
change after the rule was saved:

- the field is active and not sensitive: a sealed value is typed by a person on a screen, never
  kept in clear in a rule and written unattended;
- the field policy lets the rule's author write it (``backoffice.security.policy``: the field's
  own visible/editable roles and the author's right to write customers);
- the value passes the fields room's own check for the field, after the form's own reading of
  an input (``forms.submitted_value``, ``values.validate_record``), so that a rule stores nothing
  a screen would refuse, and its refusal names the field and the reason.

The write goes through ``forms.store`` like a screen edit's, so its flush raises the same
``record.changed`` event and the same operation-log row; a maker's change to a reviewed field
is filed with the whole ``custom_fields`` document, as a screen edit files it.

Functions return a reason (a lazy translation) instead of raising: the action turns it into a
skip shown in the run log.
"""
from __future__ import annotations

from types import SimpleNamespace

from flask_babel import lazy_gettext as _l

from backoffice.security import policy

PREFIX = policy.CUSTOM_PREFIX  # "custom_fields."
ENTITY = "customer"
DOCUMENT = "custom_fields"
_UNREADABLE = object()  # a stored value that no longer reads as the field's type


def is_custom(key) -> bool:
    return isinstance(key, str) and key.startswith(PREFIX)


def name_of(spec) -> str:
    """The rule's (and the policy's) name of a field: ``custom_fields.<key>``."""
    return f"{PREFIX}{spec.key}"


def refusal(spec, viewer):
    """Why ``viewer`` (a rule's author) may not set the field by a rule; None if they may."""
    if spec is None or not spec.active:
        return _l("The custom field no longer exists.")
    if spec.sensitive:
        return _l("%(field)s is a sensitive field: a rule cannot set it.", field=spec.label())
    if not policy.decide("Customer", name_of(spec), None, viewer).may_write:
        return _l("The rule's author may not change %(field)s.", field=spec.label())
    return None


def offered(viewer=None) -> list:
    """The active customer fields ``viewer`` (default: the current one) may set by a rule, in
    display order."""
    from backoffice.fields.registry import field_catalog

    viewer = viewer or policy.current_viewer()
    return [spec for spec in field_catalog(ENTITY) if refusal(spec, viewer) is None]


def settable_spec(key, viewer):
    """``(spec, None)`` for a field a stored rule names and its author may set, else
    ``(None, reason)``."""
    from backoffice.fields.registry import field_spec

    spec = field_spec(ENTITY, key[len(PREFIX):]) if is_custom(key) else None
    reason = refusal(spec, viewer)
    return (None, reason) if reason is not None else (spec, None)


def checked_value(spec, raw, customer, session=None):
    """``(typed, None)``, or ``(None, reason)`` with the fields room's own message: the value
    as a screen edit of ``customer`` would check it (type, choices, range, pattern, required,
    unique)."""
    from backoffice.fields import values as v
    from backoffice.fields.forms import submitted_value

    clean, errors = v.validate_record(ENTITY, {spec.key: submitted_value(spec, raw)},
                                      existing=customer, specs=[spec], session=session)
    if errors:
        return None, _l("The rule's value does not fit the field: %(reason)s",
                        reason=errors.get(spec.key) or next(iter(errors.values())))
    return clean.get(spec.key), None


def current_value(spec, customer):
    """The customer's typed value of the field (a marker that equals nothing if it is stored
    in a form the field no longer reads)."""
    from backoffice.fields import values as v

    try:
        return v.read_values(customer, [spec])[spec.key]
    except (ValueError, TypeError):
        return _UNREADABLE


def proposed_values(spec, typed, customer) -> dict:
    """The change-request values of setting the field: the whole document, as a screen edit
    files it (``review.values.snapshot``), the live record left as it is."""
    from backoffice.fields import values as v

    draft = SimpleNamespace(custom_fields=dict(customer.custom_fields or {}),
                            record_uid=v.record_uid(customer))
    v.apply_values(draft, {spec.key: typed}, specs=[spec])
    return {DOCUMENT: draft.custom_fields}


def write(spec, typed, customer) -> None:
    """Store the checked value as the screen's form does (the caller flushes)."""
    from backoffice.fields.forms import store

    store(customer, ENTITY, {spec.key: typed}, new=False)


def form_entry(spec) -> dict:
    """The field as the rule form offers it: its label in the reader's language marked as a
    custom field (as the column pickers mark it), and an input fit for its type and choices."""
    from flask_babel import gettext

    kind = {"integer": "number", "decimal": "number", "money": "number", "date": "date",
            "datetime": "datetime", "boolean": "boolean"}.get(spec.type, "text")
    return {"key": name_of(spec), "label": f"{spec.label()} ({gettext('custom field')})",
            "type": kind, "choices": [[c.value, c.label()] for c in spec.choices],
            "multiple": spec.type == "multi_choice", "custom": True,
            "step": {"integer": "1", "money": "0.01"}.get(spec.type, "any")}


def value_problem(actions: list):
    """The first value of a custom field a rule's actions would set that the field refuses
    whatever the customer (the form says so on saving, instead of every run skipping)."""
    from backoffice.fields import values as v
    from backoffice.fields.forms import submitted_value
    from backoffice.fields.registry import field_spec

    for action in actions or []:
        key = action.get("field")
        if action.get("kind") != "set_field" or not is_custom(key):
            continue
        spec = field_spec(ENTITY, key[len(PREFIX):])
        if spec is None:
            continue  # "choose the field" is the service's to say
        _typed, message = v.validate_value(spec, submitted_value(spec, action.get("value")))
        if message:
            return message
    return None
