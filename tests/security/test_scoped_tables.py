"""Every table that holds a customer's records is scoped, found by the ``CustomerRecord`` marker.

A new table with a ``customer_id`` column (or any foreign key to ``customer``) whose model does not
carry the marker fails here, instead of quietly serving every customer to every role. The two
tables left out say why.
"""
from __future__ import annotations

import pytest
from flask_appbuilder import Model
from sqlalchemy import event, select

from backoffice.extensions import db
from backoffice.security import scopes
from models.base import CustomerRecord

# table -> why its rows are not restricted by the record scope
EXEMPT = {
    "audit_log": "the operation log: who may read which entries is decided by the policy's "
                 "log_read_access (auditors read every branch), not by customer scope",
    "customer": "the scope's own root: restricted by the scope condition itself",
    "notification": "a member of staff's own notices (read by recipient only): whether one "
                    "about a customer may show its text is asked of the reader's scope when it "
                    "is shown (backoffice.notifications.privacy); scoped, the bell would lose "
                    "every notice without a customer",
}


def _customer_columns(table) -> list[str]:
    return [column.name for column in table.columns
            if column.name == "customer_id"
            or any(key.column.table.name == "customer" for key in column.foreign_keys)]


def _models_by_table() -> dict[str, type]:
    return {mapper.local_table.name: mapper.class_ for mapper in Model.registry.mappers}


def test_every_table_with_a_customer_column_is_a_marked_model_or_exempt(app):
    models = _models_by_table()
    unscoped = []
    for table in Model.metadata.sorted_tables:
        if not _customer_columns(table) or table.name in EXEMPT:
            continue
        model = models.get(table.name)
        if model is None or not issubclass(model, CustomerRecord):
            unscoped.append(table.name)
    assert unscoped == [], (
        f"tables holding customer rows without the CustomerRecord marker: {unscoped} "
        "(mark the model, or add the table to EXEMPT with the reason)")


def test_every_marked_model_has_a_customer_id_and_is_scoped(app):
    marked = [cls for cls in _models_by_table().values() if issubclass(cls, CustomerRecord)]
    assert len(marked) >= 15
    for cls in marked:
        assert "customer_id" in cls.__table__.columns, cls.__name__
        assert cls.__mapper__ in scopes._SCOPED_MAPPERS, cls.__name__


def test_exemptions_still_exist(app):
    """An exemption for a table that is gone (or lost its customer column) is dropped."""
    tables = {table.name: table for table in Model.metadata.sorted_tables}
    for name in EXEMPT:
        assert name in tables
        assert name == "customer" or _customer_columns(tables[name]), name


@pytest.mark.parametrize("entity", scopes.CUSTOMER_CHILDREN, ids=lambda e: e.__name__)
def test_a_query_of_each_marked_model_carries_the_scope(app, world, entity):
    """The hook really restricts each model: the SQL sent for a relationship manager's query
    filters the rows by the customers of their book (a narrow scope that excludes most rows)."""
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    rm1_id = world.staff["rm1"]
    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", capture)
        try:
            with scopes.as_scope(scopes.RecordScope("own", user_id=rm1_id)):
                db.session.execute(select(entity).limit(1)).all()
            db.session.rollback()
        finally:
            event.remove(engine, "before_cursor_execute", capture)
    sent = " ".join(statements).lower().replace('"', "")
    assert f"{entity.__table__.name}.customer_id in (select customer.id" in sent, sent
    assert "customer.owner_id" in sent, sent
