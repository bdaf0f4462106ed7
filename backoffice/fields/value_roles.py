"""What a customer's own number fields add to their financial assets and annual volume.

A bank's first step is often a spreadsheet of balances imported as custom fields, months before
its accounts are loaded. Valuing customers by accounts and transactions alone then makes
everybody "low value" (every high-risk customer lands in churn tier P3, every tier is "mass").
So an admin may mark customer number fields as counting toward:

* ``assets``: the customer's **financial assets** =
  balances of open accounts in asset products (``models.metrics.total_assets_of``; loans and
  credit cards are liabilities) + every active field marked ``assets``;
* ``volume``: the customer's **annual volume** =
  transaction amounts of the last 12 months + every active field marked ``volume``.

This is the one definition the tier rules and the rule builder (``metric.aum``,
``metric.annual_volume`` in ``backoffice.segments.metrics``) and the churn value band
(``backoffice.churn.value``) share: each reads the account and transaction part in its own
set-based pass, and every one of them adds the fields' part with :func:`marked_sql` on the
customer row. A missing or non-numeric value adds nothing.

Only plain number and money fields every role sees may be marked: a sensitive field is stored
sealed and no query can add it up, and a total that included a field kept from some roles
would show it to them. A marked field's amount becomes part of the deep profile
(the asset and volume metrics are deep: counts over them leave out customers whose deep profile
the viewer may not see, ``backoffice.segments.guard``).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import Numeric, func, literal

from backoffice.fields.registry import NUMERIC_TYPES, FieldSpec
from models.fields import VALUE_ROLES

ROLE_LABELS = {"assets": _l("Financial assets"), "volume": _l("Annual volume")}
MARKABLE_ENTITIES = ("customer",)


def clean_roles(raw, *, entity: str | None, field_type: str | None, sensitive: bool,
                visible_roles=()):
    """``(roles, error)``: the marks as a list in canonical order, or why they cannot be set."""
    if raw in (None, "", [], ()):
        return [], None
    values = [raw] if isinstance(raw, str) else list(raw)
    unknown = [str(v) for v in values if v not in VALUE_ROLES]
    roles = [r for r in VALUE_ROLES if r in values]
    if unknown:
        return roles, _l("Unknown value roles: %(roles)s", roles=", ".join(unknown))
    if not roles:
        return [], None
    if entity not in MARKABLE_ENTITIES:
        return [], _l("Only fields of customers count toward a customer's assets or volume.")
    if field_type not in NUMERIC_TYPES:
        return [], _l("Only number and money fields can count toward assets or volume.")
    if sensitive:
        return [], _l("A sensitive field is stored encrypted and cannot be added up: it cannot "
                      "count toward assets or volume.")
    if visible_roles:
        return [], _l("A field only some roles see cannot count toward assets or volume: the "
                      "totals are shown to everyone who may see the customer's assets.")
    return roles, None


def counted(spec: FieldSpec, role: str) -> bool:
    """Whether ``spec`` adds to ``role`` now (marked, live, a plain customer number)."""
    return (spec.entity in MARKABLE_ENTITIES and spec.active and not spec.sensitive
            and not spec.visible_roles and spec.type in NUMERIC_TYPES
            and spec.counts_toward(role))


def marked(role: str, session=None) -> list[FieldSpec]:
    """The live customer fields counting toward ``role`` (none outside an app: pure callers
    such as rule compilation in tests value customers by accounts alone)."""
    if role not in VALUE_ROLES:
        raise ValueError(f"unknown value role {role!r}")
    from flask import has_app_context

    if session is None and not has_app_context():
        return []
    from backoffice.fields.registry import field_catalog

    return [spec for spec in field_catalog("customer", session=session) if counted(spec, role)]


def marked_sql(role: str, dialect: str, *, specs=None, model=None):
    """The sum of the customer row's fields marked ``role``, as SQL (0 when none is marked).

    ``model`` is the customer table the expression reads (default ``Customer``): the
    correlated form and the set-based passes both read the row they are on.
    """
    from backoffice.fields.filters import element

    if model is None:
        from models.customers import Customer as model
    specs = marked(role) if specs is None else [s for s in specs if counted(s, role)]
    total = None
    for spec in specs:
        part = func.coalesce(element(spec, model, dialect), 0)
        total = part if total is None else total + part
    if total is None:
        return literal(0, Numeric(18, 2))
    return total


def financial_assets_sql(customer_id, dialect: str, *, specs=None):
    """A customer's financial assets as one scalar SQL expression (see the module docstring):
    ``customer_id`` is the column of the customer row the expression is correlated with."""
    from models.metrics import total_assets_of

    return total_assets_of(customer_id) + marked_sql("assets", dialect, specs=specs)


def marked_amount(record, role: str):
    """The record's own fields marked ``role``, added up in Python (what :func:`marked_sql`
    adds in SQL), for a page that already holds the record."""
    from decimal import Decimal, InvalidOperation

    from backoffice.fields.display import typed_value

    total = Decimal("0")
    for spec in marked(role):
        value = typed_value(record, spec)
        if value is None or isinstance(value, bool):
            continue
        try:
            total += Decimal(str(value))
        except (InvalidOperation, ValueError):
            continue  # a value that does not open, or is not a number, adds nothing
    return total
