"""What a rule's counts may reveal: counts are reads, so they obey the field-access policy.

A count that answers "how many customers have assets above X" for any X the user picks is a
binary search on one customer's assets. Every aggregate a user can steer with a rule (the rule
builder's live count and preview, segment member counts and lists, campaign audience previews)
therefore follows one decision, taken from ``backoffice.security.policy``:

* a condition on a **deep-profile** field or metric (assets, AUM, balances, deposits, money
  flows, income) counts, for that user, only customers whose deep profile the user may see:
  ``policy.deep_profile_condition(viewer)`` is added to the WHERE of the count. A customer whose
  assets the user may not see never counts, whatever the threshold, so moving the threshold
  moves nothing that user could not read anyway;
* a condition on a field the user may **not read at all** (a custom field hidden from the
  user's roles) is refused: the field is not in the user's catalogue, and the rule is rejected
  with the same message as a field that does not exist (which tells nothing either);
* a condition on a **masked** field (mobile, ID number, sensitive custom fields) allows exact
  equality only, which the blind index answers without the plaintext: no prefix, contains,
  range or ordering, each of which would reveal the value digit by digit.

Tier rules are the exception by design: a tier is shown on every customer list, so the members
of a tier reveal nothing beyond what the list shows.
"""
from __future__ import annotations

from dataclasses import replace

from backoffice.security import policy
from backoffice.segments.rules import RuleField, fields_used

EXACT_ONLY = ("eq",)


def policy_name(field: RuleField) -> str | None:
    """The policy's name for a rule field on ``Customer`` (None: a computed metric)."""
    if field.kind == "custom":
        return policy.CUSTOM_PREFIX + field.spec.key
    if field.kind == "column":
        return field.key.partition(".")[2]
    return None


def for_viewer(fields: dict[str, RuleField], viewer: policy.Viewer | None = None) -> dict:
    """The rule fields ``viewer`` may test: hidden ones left out, masked ones exact-only.

    Deep-profile fields stay (their counts are restricted by :func:`condition` instead), so a
    relationship manager still builds "AUM above 1,000,000" over the customers they own.
    """
    viewer = viewer or policy.current_viewer()
    offered = {}
    for key, field in fields.items():
        name = policy_name(field)
        if field.deep or name is None:
            offered[key] = field
            continue
        read, _kind = policy.read_access(policy.CUSTOMER_VIEW, name, None, viewer)
        if read is policy.Read.HIDDEN:
            continue
        if read is policy.Read.MASKED:
            ops = tuple(op for op in field.ops() if op in EXACT_ONLY)
            if not ops:
                continue
            field = replace(field, operators=ops)
        offered[key] = field
    return offered


def reads_deep_profile(rules, fields: dict[str, RuleField]) -> bool:
    """Whether any of ``rules`` tests a deep-profile field or metric."""
    for rule in rules:
        if any(getattr(fields.get(key), "deep", False) for key in fields_used(rule or {})):
            return True
    return False


def condition(rules, fields: dict[str, RuleField], viewer: policy.Viewer | None = None):
    """The SQL condition to add to a count (or list) of customers matched by ``rules``, or
    None when nothing needs to be left out for this viewer."""
    if not reads_deep_profile(rules, fields):
        return None
    return policy.deep_profile_condition(viewer)


def segment_condition(segment, fields: dict[str, RuleField],
                      viewer: policy.Viewer | None = None):
    """:func:`condition` for the members of a saved segment (None for tier rules)."""
    if segment is None or segment.kind == "tier":
        return None
    return condition([segment.rule], fields, viewer)
