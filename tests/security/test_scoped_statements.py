"""A statement built once and run under many scopes answers each scope with its own rows.

The record scope's criteria are attached to a statement per execution, and the result is kept per
statement object and scope (``scopes._with_criteria``): a built-once statement (the 360 page's
panels, the bell) must never hand one user's criteria to another. The criteria of the records
that hang off a customer name the customer table once, not once per level of nesting.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import bindparam, select

from backoffice.extensions import db
from backoffice.security import scopes
from models import Account, Customer, Interaction

ACCOUNTS_OF = select(Account.customer_id).where(Account.status == bindparam("status"))
CUSTOMERS = select(Customer.id)
INTERACTIONS = select(Interaction.customer_id)


def _scope(app, world, username: str) -> scopes.RecordScope:
    from models import Staff

    with app.app_context():
        user = db.session.get(Staff, world.staff[username])
        scope = scopes.scope_for_user(user)
        db.session.remove()
    return scope


@pytest.mark.parametrize("statement", [ACCOUNTS_OF, CUSTOMERS, INTERACTIONS],
                         ids=["accounts", "customers", "interactions"])
def test_one_statement_object_answers_each_scope_with_its_own_customers(app, world, statement):
    expected = {
        "rm1": {world.customers["c_rm1"]},
        "rm2": {world.customers["c_rm2"]},
        "teller1": {world.customers["c_rm2"]},
        "rm3": {world.customers["c_rm3"]},
        "bm1": {world.customers["c_rm1"], world.customers["c_rm2"]},
    }
    params = {"status": "open"} if statement is ACCOUNTS_OF else {}
    # Twice round, alternating users: the second round answers from the kept statements.
    for _round in range(2):
        for username, own in expected.items():
            scope = _scope(app, world, username)
            with app.app_context(), scopes.as_scope(scope):
                found = set(db.session.scalars(statement, params).all())
                db.session.remove()
            world_ids = set(world.customers.values())
            assert found & world_ids == own, (username, found & world_ids)
    kept = scopes._scoped_statements.get(statement)
    assert kept is not None and len(kept) == len(expected)


def test_a_childs_criteria_name_the_customer_table_once(app, world):
    scope = _scope(app, world, "rm1")
    with app.app_context(), scopes.as_scope(scope):
        seen = []

        from sqlalchemy import event

        def before(conn, cursor, statement, *args):
            seen.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            db.session.scalars(INTERACTIONS).all()
        finally:
            event.remove(engine, "before_cursor_execute", before)
            db.session.remove()
    sql = " ".join(seen[-1].split())
    assert len(re.findall(r"customer\.owner_id = ", sql)) == 1, sql
