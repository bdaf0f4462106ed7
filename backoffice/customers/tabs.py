"""The customers room's part of the 360 page: the header's key figures and actions, and the
tabs of the customer's own records (profile, holdings, transactions, interactions, tasks,
change requests, operation log).

Each builder is one or two bounded queries about this one customer, through the request's
scoped session. Values go through the field-access policy: balances and total assets only to
those who may see the deep profile (``present`` and ``may_see_deep_profile``), masked fields
masked. Other rooms add their own panels and tabs through ``backoffice.customers.panels``.
"""
from __future__ import annotations

import functools
from decimal import Decimal

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.orm import selectinload

from backoffice.customers import panels
from backoffice.customers.panels import Action, Panel, Tab, endpoint_allowed, requires
from backoffice.extensions import db
from backoffice.fields.value_roles import marked_amount
from backoffice.security.policy import may_see_deep_profile
from models import (Account, AuditLog, ChangeRequest, FollowUp, Interaction, Product,
                    Transaction)
from models.metrics import LIABILITY_CATEGORIES

ROWS = 20  # rows per tab: the latest ones, with a link to the full, filterable list
PROFILE = "profile"

# --- the header ------------------------------------------------------------------------------


def _held_assets(customer_id):
    """The sum of the customer's open non-liability holdings, as a scalar subquery."""
    return (select(func.coalesce(func.sum(Account.balance), Decimal("0")))
            .join(Product, Product.id == Account.product_id)
            .where(Account.customer_id == customer_id, Account.status == "open",
                   Product.category.not_in(LIABILITY_CATEGORIES))
            .scalar_subquery())


def total_assets(customer, held: Decimal | None = None) -> Decimal:
    """Financial assets: open non-liability holdings plus the values marked as assets (the one
    definition the lists, segments and churn value bands use too). One query, none when the
    caller read ``held`` (:func:`_held_assets`) in a query of its own."""
    if held is None:
        held = db.session.execute(select(_held_assets(customer.id))).scalar()
    return Decimal(held or 0) + marked_amount(customer, "assets")


@functools.cache
def _figures_statement(deep: bool):
    """The header's counts in one statement, built once per process for each kind of viewer
    (the holdings' sum rides along for those who may see the deep profile): built anew for
    every 360 page, the statement and its cache key cost more than running it."""
    customer_id = bindparam("figures_customer")
    open_accounts = select(func.count(Account.id)).where(
        Account.customer_id == customer_id, Account.status == "open").scalar_subquery()
    open_tasks = select(func.count(FollowUp.id)).where(
        FollowUp.customer_id == customer_id, FollowUp.status == "open").scalar_subquery()
    last_contact = select(func.max(Interaction.occurred_at)).where(
        Interaction.customer_id == customer_id).scalar_subquery()
    held = _held_assets(customer_id) if deep else literal(None)
    return select(open_accounts, open_tasks, last_contact, held)


def header_figures(customer) -> list[dict]:
    """[{key, label, value}] of the key figures this viewer may see, in one query (with the
    holdings behind the deep profile's total assets only for those who may see it)."""
    deep = may_see_deep_profile(customer)
    accounts, tasks, contact, held = db.session.execute(
        _figures_statement(deep), {"figures_customer": customer.id}).one()
    if isinstance(contact, str):  # SQLite returns max() of a datetime column as text
        import datetime as dt

        contact = dt.datetime.fromisoformat(contact)
    from backoffice.formatting import local_time, money
    from models import choices as c

    figures = []
    if deep:
        figures.append({"key": "total-assets", "label": _l("Total financial assets"),
                        "value": money(total_assets(customer, held))})
    risk = c.RISK_TOLERANCES.get(customer.risk_tolerance, customer.risk_tolerance) \
        if customer.risk_tolerance else _l("Not assessed")
    figures += [
        {"key": "risk-tolerance", "label": _l("Risk tolerance"), "value": risk,
         "note": customer.risk_assessed_on or ""},
        {"key": "open-accounts", "label": _l("Open accounts"), "value": accounts},
        {"key": "open-tasks", "label": _l("Open follow-ups"), "value": tasks},
        {"key": "last-contact", "label": _l("Last interaction"),
         "value": local_time(contact) if contact else _l("None yet")},
    ]
    return figures


def _pending_changes(customer) -> dict | None:
    """The header notice of changes to this customer waiting for review (one query)."""
    pending = db.session.scalars(_pending_statement(), {"pending_customer": customer.id}).all()
    return {"pending_changes": pending} if pending else None


@functools.cache
def _pending_statement():
    """Built once, as :func:`_figures_statement`."""
    return (select(ChangeRequest)
            .where(ChangeRequest.customer_id == bindparam("pending_customer"),
                   ChangeRequest.status == "pending")
            .order_by(ChangeRequest.created_at).limit(ROWS))


def _register_actions() -> None:
    panels.register_action(Action(
        "edit", _l("Edit"), lambda cu: url_for("CustomerView.edit", pk=cu.id),
        lambda viewer, _cu: endpoint_allowed("CustomerView.edit", viewer),
        icon="fa-edit", order=10))
    panels.register_action(Action(
        "record-interaction", _l("Record interaction"),
        lambda cu: url_for("InteractionView.add", customer_no=cu.customer_no),
        lambda viewer, _cu: endpoint_allowed("InteractionView.add", viewer),
        icon="fa-comment", style="btn-primary", order=20))
    panels.register_action(Action(
        "add-follow-up", _l("Add follow-up"),
        lambda cu: url_for("FollowUpView.add", customer_no=cu.customer_no),
        lambda viewer, _cu: endpoint_allowed("FollowUpView.add", viewer),
        icon="fa-tasks", order=30))


# --- the tabs --------------------------------------------------------------------------------


def _holdings(customer) -> dict:
    accounts = db.session.scalars(
        select(Account).where(Account.customer_id == customer.id).order_by(Account.opened_on)
        .options(selectinload(Account.product))).all()
    deep = may_see_deep_profile(customer)
    return {"accounts": accounts, "deep": deep,
            "total_assets": total_assets(customer) if deep else None}


def _transactions(customer) -> dict:
    return {"transactions": db.session.scalars(
        select(Transaction).where(Transaction.customer_id == customer.id)
        .order_by(Transaction.occurred_at.desc(), Transaction.id.desc()).limit(ROWS)).all(),
        "rows": ROWS}


def _interactions(customer) -> dict:
    return {"interactions": db.session.scalars(
        select(Interaction).where(Interaction.customer_id == customer.id)
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(ROWS)).all(),
        "rows": ROWS}


def _tasks(customer) -> dict:
    assignee = selectinload(FollowUp.assignee)  # one query for the assignees, not one each
    open_tasks = db.session.scalars(
        select(FollowUp).where(FollowUp.customer_id == customer.id, FollowUp.status == "open")
        .order_by(FollowUp.due_at).limit(ROWS).options(assignee)).all()
    closed = db.session.scalars(
        select(FollowUp).where(FollowUp.customer_id == customer.id, FollowUp.status != "open")
        .order_by(FollowUp.due_at.desc()).limit(ROWS).options(assignee)).all()
    return {"follow_ups": open_tasks, "closed_follow_ups": closed, "rows": ROWS}


def _changes(customer) -> dict:
    from backoffice.customers.labels import CUSTOMER_LABELS
    from backoffice.review.views import KIND_LABELS, STATUS_LABELS

    changes = db.session.scalars(
        select(ChangeRequest).where(ChangeRequest.customer_id == customer.id)
        .order_by((ChangeRequest.status == "pending").desc(), ChangeRequest.created_at.desc())
        .limit(ROWS).options(selectinload(ChangeRequest.maker))).all()
    return {"changes": changes, "kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS,
            "field_labels": CUSTOMER_LABELS}


def _operation_log(customer) -> dict:
    """The latest log rows about this customer, in words, details as the reader may see them."""
    from backoffice.audit.views import shown_detail
    from backoffice.audit.words import action_label, detail_lines

    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.customer_id == customer.id)
        .order_by(AuditLog.occurred_at.desc()).limit(ROWS)).all()
    return {"log_rows": [(row, action_label(row.action),
                          detail_lines(shown_detail(row.entity, row.detail))) for row in rows],
            "rows": ROWS}


def register() -> None:
    """The customers room's tabs and header actions (called at start-up, in the app context);
    the ``crm_allowed(endpoint)`` template helper (a button is drawn only when its route would
    let the user through); tab loads on record in the operation log like the page itself."""
    from flask import current_app

    from backoffice.audit.capture import audit_read_endpoint
    from models import Customer

    current_app.jinja_env.globals["crm_allowed"] = endpoint_allowed
    audit_read_endpoint("CustomerView.tab", "view_360", "Customer", Customer)
    _register_actions()
    panels.register_panel(Panel("pending_changes", panels.HEADER,
                                "customers/_pending_changes.html", _pending_changes,
                                requires("can_read", "ChangeRequest"), order=90))
    for tab in (
        Tab(PROFILE, _l("Profile"), "customers/tabs/profile.html", order=10, lazy=False,
            icon="fa-id-card-o"),
        Tab("holdings", _l("Holdings"), "customers/tabs/holdings.html", _holdings,
            requires("can_read", "Account"), order=20, icon="fa-credit-card"),
        Tab("transactions", _l("Transactions"), "customers/tabs/transactions.html",
            _transactions, requires("can_read", "Transaction"), order=30, icon="fa-exchange"),
        Tab("interactions", _l("Interaction timeline"), "customers/tabs/interactions.html",
            _interactions, requires("can_read", "Interaction"), order=40, icon="fa-comments"),
        Tab("tasks", _l("Follow-ups"), "customers/tabs/tasks.html", _tasks,
            requires("can_read", "FollowUp"), order=50, icon="fa-tasks"),
        Tab("changes", _l("Change requests"), "customers/tabs/changes.html", _changes,
            requires("can_read", "ChangeRequest"), order=70, icon="fa-check-square-o"),
        Tab("operation-log", _l("Operation log"), "customers/tabs/operation_log.html",
            _operation_log, requires("can_read", "AuditLog"), order=80, icon="fa-history"),
    ):
        panels.register_tab(tab)
