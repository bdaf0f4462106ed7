"""The fields a segment rule may test: customer columns, computed metrics, custom fields.

Built from what is live (the custom-field registry, the metric registry, the branch list), so a
field an admin adds today is offered today, in every process. In a request the built catalogue
is kept in the process's cache (``backoffice.config_cache``) while the branch and custom-field
counters are unchanged: the 360 page and the rule builder ask for it on every view.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from backoffice.security.policy import is_deep_profile_field
from backoffice.segments.metrics import METRICS
from backoffice.segments.rules import OPERATORS, RuleField
from models import choices as c
from models.customers import Customer

# Built-in customer columns offered to rules: (column, label, type, choices).
BUILTIN_COLUMNS = (
    ("customer_type", _l("Customer type"), "choice", c.CUSTOMER_TYPES),
    ("gender", _l("Gender"), "choice", c.GENDERS),
    ("status", _l("Status"), "choice", c.CUSTOMER_STATUSES),
    ("risk_tolerance", _l("Risk tolerance"), "choice", c.RISK_TOLERANCES),
    ("tier", _l("Tier (computed)"), "choice", c.TIERS),
    ("branch_id", _l("Branch"), "choice", None),
    ("occupation", _l("Occupation"), "text", None),
    ("birth_date", _l("Birth date"), "date", None),
    ("onboarded_on", _l("Onboarded on"), "date", None),
    ("risk_assessed_on", _l("Risk assessed on"), "date", None),
    ("consent_sms", _l("SMS consent"), "boolean", None),
    ("consent_email", _l("Email consent"), "boolean", None),
    ("consent_phone", _l("Phone consent"), "boolean", None),
    ("consent_wechat", _l("WeChat consent"), "boolean", None),
    ("flag_elderly", _l("Elderly customer"), "boolean", None),
    ("flag_vip", _l("VIP flag"), "boolean", None),
)


def _column_sql(column):
    return lambda today, dialect: column


def _metric_sql(metric):
    return lambda today, dialect: metric.sql_for(Customer.id, today, dialect)


def rule_fields(*, session=None, branches=None, roles=None, custom_specs=None) -> dict:
    """``{key: RuleField}`` of everything a rule may test right now.

    ``branches``: ``[(id, name)]`` for the branch choice (read from ``session`` when omitted);
    ``custom_specs``: the custom-field specs (read from the registry when omitted); ``roles``
    keeps only the custom fields those roles may see.
    """
    from backoffice.extensions import db

    if branches is None and custom_specs is None and session is db.session:
        from flask import has_request_context

        if has_request_context():
            from backoffice import config_cache
            from backoffice.fields.registry import current_locale

            key = (None if roles is None else tuple(sorted(roles)), current_locale())
            built = config_cache.cached(
                "rule_fields", ("branch", "custom_field_definition"),
                lambda: _build(session=db.session, branches=None, roles=roles,
                               custom_specs=None), key=key)
            return dict(built)  # the entries are frozen; the mapping is the caller's
    return _build(session=session, branches=branches, roles=roles, custom_specs=custom_specs)


def _build(*, session, branches, roles, custom_specs) -> dict:
    fields: dict[str, RuleField] = {}
    if branches is None and session is not None:
        from models import Branch

        branches = [(b.id, b.name) for b in session.query(Branch).order_by(Branch.code)]
    for name, label, kind, mapping in BUILTIN_COLUMNS:
        choices = tuple((str(k), str(v)) for k, v in (mapping or {}).items())
        if name == "branch_id":
            choices = tuple((str(pk), str(n)) for pk, n in (branches or ()))
        column = getattr(Customer, name)
        if name == "branch_id":  # compared with the choice values, which are text
            from sqlalchemy import String, cast

            column = cast(Customer.branch_id, String)
        fields[f"customer.{name}"] = RuleField(
            key=f"customer.{name}", label=str(label), type=kind, kind="column",
            choices=choices, sql=_column_sql(column),
            deep=is_deep_profile_field("Customer", name))
    for metric in METRICS.values():
        if metric.hidden:  # a building block of other metrics
            continue
        unit = {"days_since": "days", "years_since": "years"}.get(metric.kind)
        fields[f"metric.{metric.key}"] = RuleField(
            key=f"metric.{metric.key}", label=str(metric.label), type=metric.type,
            kind="metric", sql=_metric_sql(metric), date_unit=unit, metric=metric,
            operators=OPERATORS["integer"] if unit else (), deep=metric.deep)
    for spec in _custom_specs(custom_specs, session, roles):
        fields[f"custom.{spec.key}"] = RuleField(
            key=f"custom.{spec.key}", label=spec.label(), type=spec.type, kind="custom",
            choices=tuple((ch.value, ch.label()) for ch in spec.choices),
            operators=_custom_operators(spec), spec=spec)
    return fields


def _custom_specs(custom_specs, session, roles):
    if custom_specs is not None:
        return [s for s in custom_specs if not s.sensitive]
    from backoffice.fields.registry import field_catalog

    return [s for s in field_catalog("customer", roles=roles, session=session)
            if not s.sensitive]


def _custom_operators(spec) -> tuple:
    from backoffice.fields.filters import operators_for

    return operators_for(spec)


def describe(fields: dict) -> list[dict]:
    """The field list as JSON for the rule builder screen (labels, types, operators, choices)."""
    groups = {"column": str(_l("Customer")), "metric": str(_l("Metrics")),
              "custom": str(_l("Custom fields"))}
    return [{"key": f.key, "label": f.label, "type": f.type, "group": groups[f.kind],
             "operators": list(f.ops()),
             "choices": [{"value": v, "label": label} for v, label in f.choices],
             "unit": f.date_unit or ""}
            for f in fields.values()]
