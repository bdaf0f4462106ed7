"""The per-process caches of configuration (``backoffice.config_cache``) never serve stale data.

Custom-field catalogue, rule catalogue, branch choices of the customer list's search form: each
is kept per process, and each must show an admin's change on the very next request, whichever
process (or plain SQL) made it, and must never keep what a rolled-back transaction built.
"""
from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import delete, text

from backoffice.extensions import db
from models import Branch, CustomFieldDefinition


def _branch_options(page: str) -> set[str]:
    """Branch names offered by the list's search form (FAB ships the form as JSON)."""
    return set(re.findall(r'\\u003coption value=\\"\d+\\"\\u003e(.*?)\\u003c/option', page))


def _decode(names: set[str]) -> set[str]:
    return {name.encode().decode("unicode_escape") for name in names}


@pytest.fixture
def cleanup(app):
    made = {"branches": [], "fields": []}
    yield made
    with app.app_context():
        if made["fields"]:
            db.session.execute(delete(CustomFieldDefinition)
                               .where(CustomFieldDefinition.key.in_(made["fields"])))
        if made["branches"]:
            db.session.execute(delete(Branch).where(Branch.code.in_(made["branches"])))
        db.session.commit()
        db.session.remove()


def _add_field(app, key: str, label: str) -> None:
    with app.app_context():
        db.session.add(CustomFieldDefinition(entity="customer", key=key, label_zh=label,
                                             label_en=label, field_type="text"))
        db.session.commit()
        db.session.remove()


def test_a_new_custom_field_shows_on_the_next_request(app, world, client_as, cleanup):
    client = client_as("senior")
    key = f"perf_{uuid.uuid4().hex[:8]}"
    label = f"缓存测试{key[-4:]}"
    assert label not in client.get("/customers/list/").get_data(as_text=True)
    cleanup["fields"].append(key)
    _add_field(app, key, label)
    assert label in client.get("/customers/list/").get_data(as_text=True)


def test_a_branch_added_by_another_process_shows_on_the_next_request(
        app, world, client_as, cleanup, database_url):
    """Another process (here: a plain SQL insert from a child Python) bumps the counter through
    the trigger; this process's cached branch list is then rebuilt."""
    client = client_as("senior")
    before = _decode(_branch_options(client.get("/customers/list/").get_data(as_text=True)))
    assert before, "the search form offers the world's branches"
    code = f"P{uuid.uuid4().hex[:6]}"
    name = f"Perf branch {code}"
    cleanup["branches"].append(code)
    script = ("import sys; from sqlalchemy import create_engine, text\n"
              "engine = create_engine(sys.argv[1])\n"
              "with engine.begin() as conn:\n"
              "    conn.execute(text('INSERT INTO branch (code, name) VALUES (:c, :n)'),"
              " {'c': sys.argv[2], 'n': sys.argv[3]})\n")
    subprocess.run([sys.executable, "-c", script, database_url, code, name], check=True)
    after = _decode(_branch_options(client.get("/customers/list/").get_data(as_text=True)))
    assert after == before | {name}


def test_a_renamed_branch_shows_in_the_rule_catalogue(app, world, cleanup):
    from backoffice.segments.catalog import rule_fields

    code = f"P{uuid.uuid4().hex[:6]}"
    cleanup["branches"].append(code)
    with app.app_context():
        db.session.add(Branch(code=code, name="Before rename"))
        db.session.commit()
        db.session.remove()
    with app.test_request_context():
        choices = dict(rule_fields(session=db.session)["customer.branch_id"].choices)
        assert "Before rename" in choices.values()
        db.session.remove()
    with app.app_context():  # an UPDATE by plain SQL, as an operator might
        db.session.execute(text("UPDATE branch SET name = 'After rename' WHERE code = :c"),
                           {"c": code})
        db.session.commit()
        db.session.remove()
    with app.test_request_context():
        choices = dict(rule_fields(session=db.session)["customer.branch_id"].choices)
        assert "After rename" in choices.values() and "Before rename" not in choices.values()
        db.session.remove()


def test_what_a_rolled_back_transaction_built_is_never_served(app, world, cleanup):
    """A request that wrote a definition and rolled back cached nothing; and the counter value
    its write produced is never produced again, so a later change cannot match it."""
    from backoffice.fields.registry import field_catalog

    key = f"perf_{uuid.uuid4().hex[:8]}"
    cleanup["fields"].append(key)
    with app.test_request_context():
        db.session.add(CustomFieldDefinition(entity="customer", key=key, label_zh="回滚",
                                             label_en="rolled back", field_type="text"))
        db.session.flush()
        assert key in {s.key for s in field_catalog("customer")}
        db.session.rollback()
        db.session.remove()
    with app.test_request_context():
        assert key not in {s.key for s in field_catalog("customer")}
        db.session.remove()
    _add_field(app, key + "x", "another")  # a later, committed change
    cleanup["fields"].append(key + "x")
    with app.test_request_context():
        keys = {s.key for s in field_catalog("customer")}
        assert key + "x" in keys and key not in keys
        db.session.remove()


def test_every_write_bumps_its_tables_counter(app, world, cleanup):
    from models.config_version import ConfigVersion

    code = f"P{uuid.uuid4().hex[:6]}"
    cleanup["branches"].append(code)
    with app.app_context():
        def counter():
            return db.session.get(ConfigVersion, "branch", populate_existing=True).version

        seen = {counter()}
        for statement in ("INSERT INTO branch (code, name) VALUES (:c, 'x')",
                          "UPDATE branch SET name = 'y' WHERE code = :c",
                          "DELETE FROM branch WHERE code = :c"):
            db.session.execute(text(statement), {"c": code})
            db.session.commit()
            value = counter()
            assert value not in seen, statement
            seen.add(value)
        db.session.remove()


def test_a_language_forced_inside_a_request_is_honoured(app):
    """The per-request translation lookup follows ``force_locale`` and back."""
    from flask_babel import force_locale, gettext, get_locale

    with app.test_request_context(headers={"Accept-Language": "zh"}):
        get_locale()
        chinese = gettext("Customers")
        assert chinese != "Customers"  # the product's default language
        with force_locale("en"):
            assert gettext("Customers") == "Customers"
        assert gettext("Customers") == chinese


def test_a_revoked_permission_is_gone_on_the_next_request(app, world):
    """The roles' grants are cached per process; a grant removed (and given back) by an admin
    is seen by the next request."""
    from models import Staff

    sm = app.appbuilder.sm

    def pairs():
        with app.test_request_context():
            user = db.session.scalars(db.select(Staff).filter_by(username="teller1")).one()
            found = sm.permission_pairs(user)
            db.session.remove()
        return found

    assert ("can_read", "Customer") in pairs()
    with app.app_context():
        role = sm.find_role("Teller")
        grant = sm.find_permission_view_menu("can_read", "Customer")
        sm.del_permission_role(role, grant)
        db.session.remove()
    try:
        assert ("can_read", "Customer") not in pairs()
    finally:
        with app.app_context():
            sm.add_permission_role(sm.find_role("Teller"),
                                   sm.find_permission_view_menu("can_read", "Customer"))
            db.session.remove()
    assert ("can_read", "Customer") in pairs()


def _offered_sets(page: str) -> set[str]:
    """The field sets the customer list offers above its rows."""
    block = page.split('id="field-sets"', 1)[1].split("</div>", 1)[0]
    return {name.strip() for name in re.findall(r"_fs=\d+\"[^>]*>([^<(]+)", block)}


def test_a_field_set_written_by_another_process_shows_on_the_next_request(
        app, world, client_as, database_url):
    """The sets a list offers are kept per process and user: a set added, renamed and switched
    off by another process (plain SQL from a child Python) shows, changes and goes on the next
    request of this one."""
    client = client_as("senior")
    before = _offered_sets(client.get("/customers/list/").get_data(as_text=True))
    name = f"Perf set {uuid.uuid4().hex[:6]}"
    script = ("import sys; from sqlalchemy import create_engine, text\n"
              "engine = create_engine(sys.argv[1])\n"
              "with engine.begin() as conn:\n"
              "    conn.execute(text(sys.argv[2]), {'n': sys.argv[3], 'r': sys.argv[4]})\n")

    def run(statement: str, renamed: str = "") -> set[str]:
        subprocess.run([sys.executable, "-c", script, database_url, statement, name, renamed],
                       check=True)
        return _offered_sets(client.get("/customers/list/").get_data(as_text=True))

    try:
        added = run("INSERT INTO field_set (entity, name, columns, filters, sort_direction, "
                    "status, created_at, updated_at) VALUES ('customer', :n, "
                    "'[\"customer_no\"]', '[]', 'asc', 'active', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)")
        assert added == before | {name}
        renamed = run("UPDATE field_set SET name = :r WHERE name = :n", name + " v2")
        assert renamed == before | {name + " v2"}
        name += " v2"
        assert run("UPDATE field_set SET status = 'archived' WHERE name = :n") == before
    finally:
        with app.app_context():
            db.session.execute(text("DELETE FROM field_set WHERE name LIKE 'Perf set %'"))
            db.session.commit()
            db.session.remove()
