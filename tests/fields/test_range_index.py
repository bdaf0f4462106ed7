"""Range filters on custom fields use a per-field expression index on PostgreSQL: created when an
admin saves a range field (integer, decimal, money, date, datetime), dropped when it is archived,
turns sensitive or changes to a type without a range, created again on restore; the filter
compiles to the very expression the index holds, so the planner can use it. Results stay those
of the same filters on SQLite."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from backoffice.fields import changes, registry, service
from backoffice.fields.filters import compile_filter
from models import Customer
from tests.fields.conftest import unique_key
from tests.support.web import csrf_token, post_form

VALUES = {"integer": (5, 50, 500), "decimal": ("0.5", "5.25", "50.125"),
          "money": ("10.00", "2500.50", "99999.99"),
          "date": ("2014-12-31", "2015-02-14", "2015-04-01"),
          "datetime": ("2015-01-01T07:59:59", "2015-01-01T08:00:00", "2015-01-02T00:00:00")}
RANGES = {"integer": (6, 500), "decimal": ("0.6", "50.125"), "money": ("10.01", "99999.99"),
          "date": ("2015-01-01", "2015-04-01"),
          "datetime": ("2015-01-01 08:00", "2015-01-02 00:00")}


def index_exists(session, name) -> bool:
    return session.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = :n"),
                           {"n": name}).first() is not None


def plan_of(session, condition) -> str:
    """EXPLAIN of a count under the condition, sequential scans discouraged: uses the index if
    (and only if) the expressions match."""
    statement = select(func.count()).select_from(Customer).where(condition)
    sql = statement.compile(dialect=session.get_bind().dialect,
                            compile_kwargs={"literal_binds": True})
    session.execute(text("SET LOCAL enable_seqscan = off"))
    rows = session.execute(text(f"EXPLAIN {sql}")).scalars().all()
    session.rollback()
    return "\n".join(rows)


def matches(session, spec, low, high, ids) -> list[int]:
    condition = compile_filter(spec, "between", [low, high], session=session)
    return list(session.scalars(select(Customer.id).where(condition, Customer.id.in_(ids))
                                .order_by(Customer.id).execution_options(crm_unscoped=True)))


def test_range_filters_agree_on_both_databases_and_only_postgresql_gets_indexes(
        db_session, definitions, scratch_customers):
    """The same between-filter finds the middle and top values on SQLite and PostgreSQL; the
    index step is PostgreSQL's alone (SQLite: nothing to do, filters unchanged)."""
    postgresql = db_session.get_bind().dialect.name == "postgresql"
    made = {kind: definitions(key=unique_key(f"rng_{kind}"), field_type=kind)
            for kind in VALUES}
    documents = [{made[kind].key: VALUES[kind][n] for kind in VALUES} for n in range(3)]
    ids = scratch_customers(documents)
    try:
        for kind, definition in made.items():
            spec = registry.spec_of(definition)
            assert service.sync_range_index(spec, db_session) is postgresql
            db_session.commit()
            low, high = RANGES[kind]
            assert matches(db_session, spec, low, high, ids) == ids[1:], kind
            if postgresql:
                assert index_exists(db_session, service.range_index_name(spec)), kind
                plan = plan_of(db_session, compile_filter(spec, "between", [low, high],
                                                          session=db_session))
                assert service.range_index_name(spec) in plan, (kind, plan)
    finally:
        db_session.rollback()
        for definition in made.values():
            service.sync_range_index(registry.spec_of(definition, active=False), db_session)
        db_session.commit()


def test_admin_screens_create_drop_and_restore_the_range_index(app, client_as, db_session,
                                                              definitions):
    """Created with the field, dropped by archive, back on restore, dropped when the field
    turns into text or is made sensitive; nothing like it for a text field."""
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: set CRM_TEST_DATABASE_URL to a postgresql URL")
    from backoffice.extensions import db
    from models.fields import CustomFieldDefinition

    key = unique_key("contract_end")
    admin = client_as("admin")
    response = post_form(admin, "/custom-fields/add", {
        "entity": "customer", "key": key, "label_zh": "合同到期", "label_en": "Contract end",
        "field_type": "date", "position": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    made = db_session.scalars(select(CustomFieldDefinition).where(
        CustomFieldDefinition.key == key)).one()
    date_index = service.range_index_name(registry.spec_of(made))
    try:
        assert index_exists(db_session, date_index)
        token = csrf_token(admin, "/custom-fields/add")
        for action, present in (("archive_items", False), ("restore_items", True)):
            done = admin.post("/custom-fields/action_post", data={
                "csrf_token": token, "action": action, "rowid": [str(made.id)]})
            assert done.status_code == 302, action
            db_session.rollback()
            assert index_exists(db_session, date_index) is present, action
        db_session.expire_all()
        changes.change_field(db_session.get(CustomFieldDefinition, made.id), db_session,
                             field_type="integer")
        integer_index = service.range_index_name(registry.spec_of(made, type="integer"))
        assert not index_exists(db_session, date_index)
        assert index_exists(db_session, integer_index)
        changes.change_field(db_session.get(CustomFieldDefinition, made.id), db_session,
                             sensitive=True)
        assert not index_exists(db_session, integer_index)  # sealed: never compared
        text_field = definitions(key=unique_key("nickname"), field_type="text")
        assert service.sync_range_index(registry.spec_of(text_field), db_session)
        assert db_session.execute(text(
            "SELECT count(*) FROM pg_indexes WHERE indexname LIKE :p"),
            {"p": f"ix_cf_customer_{text_field.key}%"}).scalar() == 0
    finally:
        db_session.rollback()
        for kind in ("date", "integer"):
            db_session.execute(text(f'DROP INDEX IF EXISTS '
                                    f'"{service.range_index_name(registry.spec_of(made, type=kind))}"'))
        db_session.commit()
        with app.app_context(), db.engine.begin() as connection:
            table = CustomFieldDefinition.__table__
            connection.execute(table.delete().where(table.c.key == key))


def test_long_keys_get_distinct_index_names():
    """Names stay within PostgreSQL's 63 characters and two long keys sharing a prefix do not
    collide; the type is part of the name (a type change builds a new index)."""
    from backoffice.fields.registry import FieldSpec

    first = FieldSpec(id=None, entity="customer", key="k" * 60 + "a", type="datetime",
                      label_zh="", label_en="")
    second = FieldSpec(id=None, entity="customer", key="k" * 60 + "b", type="datetime",
                       label_zh="", label_en="")
    names = {service.range_index_name(first), service.range_index_name(second)}
    assert len(names) == 2 and all(len(n) <= 63 and n.endswith("_datetime") for n in names)
    assert service.range_index_name(first, "date") != service.range_index_name(first)


def test_a_stray_stored_value_fails_neither_the_filter_nor_the_index(db_session, definitions,
                                                                    scratch_customers):
    """Text that is not a number (written around the application, or a row version a
    conversion left behind) reads as no value: the range filter skips it, the index builds."""
    made = definitions(key=unique_key("stray_amount"), field_type="money")
    ids = scratch_customers([{made.key: "12.50"}, {made.key: "1,200"}, {made.key: "n/a"}])
    spec = registry.spec_of(made)
    try:
        service.sync_range_index(spec, db_session)
        db_session.commit()
        if db_session.get_bind().dialect.name == "postgresql":
            assert index_exists(db_session, service.range_index_name(spec))
        assert matches(db_session, spec, "10", "20", ids) == ids[:1]
    finally:
        db_session.rollback()
        service.sync_range_index(registry.spec_of(made, active=False), db_session)
        db_session.commit()


def test_sync_indexes_command_builds_what_definitions_written_elsewhere_lack(app, db_session,
                                                                           definitions):
    """A range field inserted without the screens (a loader, a dump) gets its index from
    `flask crm fields sync-indexes`; on SQLite the command says there is nothing to build."""
    made = definitions(key=unique_key("loaded_since"), field_type="date")
    name = service.range_index_name(registry.spec_of(made))
    result = app.test_cli_runner().invoke(args=["crm", "fields", "sync-indexes"])
    assert result.exit_code == 0, result.output
    if db_session.get_bind().dialect.name != "postgresql":
        assert "SQLite" in result.output
        return
    try:
        assert "checked" in result.output
        db_session.rollback()
        assert index_exists(db_session, name)
    finally:
        db_session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
        db_session.commit()
