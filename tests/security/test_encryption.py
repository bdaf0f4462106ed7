"""Field encryption: ciphertext at rest, bound to its row and column, searchable only exactly.

The promises of issue 3 shown here: a raw SQL read after creating 1,000 customers finds no
plaintext ID number, mobile or e-mail; one value encrypted 1,000 times gives 1,000 ciphertexts; a
ciphertext moved to another row or column does not decrypt; search by ID number and mobile goes
through the blind index (screen, API, import helper) and stays inside the record scope; keys come
from configuration or an instance key file, never from SECRET_KEY; and migration 0002 encrypts a
database that already holds plaintext.
"""
from __future__ import annotations

import datetime as dt
import os
import stat
import time
import uuid
from decimal import Decimal
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.orm import Session

from backoffice.extensions import db
from models import Account, Branch, Customer, crypto
from models.crypto import DecryptionError, KeyRing, UnknownKeyId, UnsearchableField
from tests.support import services
from tests.support.world import CUSTOMERS, make_prc_id

AAD = crypto.aad("customer", "mobile", "0" * 32)


def world_identity(app, world, key: str) -> dict:
    """A world customer's current plaintext, read through the ORM (other tests may have edited
    it since tests/support/world.py seeded it)."""
    with app.app_context():
        customer = db.session.get(Customer, world.customers[key])
        account = db.session.get(Account, world.accounts[key])
        values = {"id_number": customer.id_number, "mobile": customer.mobile,
                  "email": customer.email, "account_no": account.account_no}
        db.session.remove()
    return values


@pytest.fixture
def rollback_session(app):
    """A session on one connection inside a transaction that is rolled back afterwards, plus the
    connection for raw SQL reads of what the session wrote."""
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session, connection
        finally:
            session.close()
            transaction.rollback()
            connection.close()


# --- the cipher ---------------------------------------------------------------------------------


def test_same_value_encrypted_1000_times_gives_1000_ciphertexts():
    ring = KeyRing.generate("k1")
    tokens = [ring.encrypt("13800138000", AAD) for _ in range(1000)]
    assert len(set(tokens)) == 1000
    nonces = {crypto._unb64url(t.split(".", 2)[2])[:12] for t in tokens}
    assert len(nonces) == 1000  # a fresh 96-bit nonce per value
    assert all(t.startswith("v1.k1.") for t in tokens)  # the key id travels in the value
    assert {ring.decrypt(t, AAD) for t in tokens} == {"13800138000"}


def test_associated_data_binds_table_column_and_row():
    ring = KeyRing.generate()
    token = ring.encrypt("110101199003071234", crypto.aad("customer", "id_number", "a" * 32))
    for other in (crypto.aad("customer", "id_number", "b" * 32),  # another row
                  crypto.aad("customer", "mobile", "a" * 32),  # another column
                  crypto.aad("account", "id_number", "a" * 32)):  # another table
        with pytest.raises(DecryptionError):
            ring.decrypt(token, other)
    with pytest.raises(DecryptionError):  # tampered ciphertext
        body = token.split(".", 2)[2]
        ring.decrypt(token[:-len(body)] + ("A" if body[0] != "A" else "B") + body[1:],
                     crypto.aad("customer", "id_number", "a" * 32))
    with pytest.raises(DecryptionError, match="not a v1 ciphertext"):
        ring.decrypt("110101199003071234", crypto.aad("customer", "id_number", "a" * 32))
    with pytest.raises(UnknownKeyId, match="k9"):
        ring.decrypt(token.replace("v1.k1.", "v1.k9."), AAD)  # a key id the ring lacks


def test_key_ring_refuses_bad_keys():
    good = crypto.generate_key()
    with pytest.raises(crypto.KeyConfigError, match="32 bytes"):
        KeyRing.from_settings({"k1": "c2hvcnQ="}, "k1", good)
    with pytest.raises(crypto.KeyConfigError, match="CRM_PRIMARY_KEY_ID"):
        KeyRing.from_settings({"k1": good, "k2": crypto.generate_key()}, None,
                              crypto.generate_key())
    with pytest.raises(crypto.KeyConfigError, match="CRM_BLIND_INDEX_KEY"):
        KeyRing.from_settings({"k1": good}, "k1", None)
    with pytest.raises(crypto.KeyConfigError, match="differ"):
        KeyRing.from_settings({"k1": good}, "k1", good)
    with pytest.raises(crypto.KeyConfigError, match="no dots"):
        KeyRing.from_settings({"k.1": good}, "k.1", crypto.generate_key())
    ring = KeyRing.from_settings(f'{{"k1": "{good}"}}', None, crypto.generate_key())
    assert ring.primary_kid == "k1" and "k1" in repr(ring) and good not in repr(ring)


def test_blind_index_is_keyed_normalised_and_per_kind():
    ring, other = KeyRing.generate(), KeyRing.generate()
    assert crypto.blind_index("mobile", "+86 138-0013-8000", ring) == \
        crypto.blind_index("mobile", "13800138000", ring)
    assert crypto.blind_index("id_number", "11010119900307123x", ring) == \
        crypto.blind_index("id_number", "11010119900307123X", ring)
    assert crypto.blind_index("mobile", "13800138000", ring) != \
        crypto.blind_index("mobile", "13800138000", other)  # keyed: no dictionary across banks
    assert crypto.blind_index("mobile", "6222000000000001", ring) != \
        crypto.blind_index("account_no", "6222000000000001", ring)
    assert len(crypto.blind_index("mobile", "13800138000", ring)) == 64


@pytest.mark.parametrize("value", ["1e30", "1E1000000", "NaN", "abc"])
def test_a_decimal_that_is_no_amount_is_a_value_error(value):
    """Normalising a sensitive amount (the form of its ciphertext and blind index) refuses
    what no amount is with ValueError, which callers report, not with decimal's own errors."""
    with pytest.raises(ValueError):
        crypto.normalise("decimal", value)
    assert crypto.normalise("decimal", "1234.5") == "1234.50"


def test_registered_fields_are_the_sensitive_fields():
    registered = {table: tuple(spec.field for spec in specs)
                  for table, specs in crypto.registered().items()
                  if table in crypto.SENSITIVE_FIELDS}
    assert registered == crypto.SENSITIVE_FIELDS
    searchable = {(s.table, s.field) for specs in crypto.registered().values() for s in specs
                  if s.index_column}
    assert {("customer", "id_number"), ("customer", "mobile"),
            ("account", "account_no")} <= searchable


def test_record_uids_are_time_ordered_uuids():
    """Version 7 (RFC 9562): the creation millisecond first, so a later row's uid sorts after
    an earlier one's and new rows share a range of the unique index; 74 random bits after."""
    before = time.time_ns() // 1_000_000
    first = crypto.new_record_uids(1000)
    time.sleep(0.002)
    later = crypto.new_record_uid()
    after = time.time_ns() // 1_000_000
    assert len(set(first)) == 1000
    for uid in [*first, later]:
        parsed = uuid.UUID(uid)
        assert parsed.hex == uid and parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= int(uid[:12], 16) <= after
    assert max(first) < later
    assert len({uid[13:] for uid in first}) == 1000  # the random part alone is unique


# --- the model attributes -----------------------------------------------------------------------


def test_attributes_read_plain_and_store_ciphertext():
    ring = KeyRing.generate()
    with crypto.using_keyring(ring):
        customer = Customer(name="甲", id_number="11010119900307123x",
                            mobile="+86 139 1234 5678", email=" a@example.com ",
                            address="北京市东城区某路1号", annual_income="1200000.5",
                            family_notes="配偶在外企", investment_notes="偏好固收")
        assert len(customer.record_uid) == 32  # known before any insert
        assert customer.id_number == "11010119900307123X"  # normalised as the validators do
        assert customer.mobile == "13912345678"
        assert customer.email == "a@example.com"
        assert customer.annual_income == Decimal("1200000.50")
        for name in ("id_number", "mobile", "email", "address", "annual_income",
                     "family_notes", "investment_notes"):
            assert getattr(customer, f"{name}_enc").startswith("v1.")
        assert customer.mobile_bidx == ring.blind_index("mobile", "13912345678")
        before = customer.id_number_enc
        customer.id_number = "11010119900307123X"  # the same value: no new ciphertext
        assert customer.id_number_enc == before
        customer.mobile = ""
        assert customer.mobile is None and customer.mobile_enc is None
        assert customer.mobile_bidx is None
        # A uid given to the constructor after the fields re-seals them for that uid.
        given = Customer(id_number="110101199003071234", record_uid="f" * 32)
        assert given.record_uid == "f" * 32 and given.id_number == "110101199003071234"


def test_class_level_comparison_uses_the_blind_index_and_nothing_else():
    ring = KeyRing.generate()
    with crypto.using_keyring(ring):
        sql = str(select(Customer.id).where(Customer.id_number == "110101199003071234")
                  .compile(compile_kwargs={"literal_binds": True}))
        assert "id_number_bidx = '" + ring.blind_index("id_number", "110101199003071234") in sql
        assert "110101199003071234" not in sql
        assert "account_no_bidx IN" in str(select(Account.id).where(
            Account.account_no.in_(["6222000000000001", "6222000000000002"])))
        assert "email_enc IS NULL" in str(select(Customer.id).where(Customer.email.is_(None)))
        for refused in (lambda: Customer.mobile.like("138%"),
                        lambda: Customer.id_number.contains("1990"),
                        lambda: Customer.mobile > "138",
                        lambda: Customer.email == "x@example.com",  # no blind index
                        lambda: Customer.mobile.asc()):
            with pytest.raises(UnsearchableField):
                refused()


def test_without_a_key_ring_nothing_is_read():
    with crypto.using_keyring(KeyRing.generate()):
        customer = Customer(id_number="110101199003071234")
    customer.__dict__.pop("_crm_decrypted")  # forget the value kept from the assignment
    with pytest.raises(crypto.KeyRingUnavailable):
        _ = customer.id_number


# --- at rest in the real (migrated) database -----------------------------------------------------


def test_raw_read_after_1000_customers_finds_no_plaintext(app, world, rollback_session):
    session, connection = rollback_session
    plaintext = set()
    with app.app_context():
        for n in range(1000):
            birth = dt.date(1950 + n % 50, 1 + n % 12, 1 + n % 28)
            values = {"id_number": make_prc_id(birth, 100 + n % 400, male=bool(n % 2)),
                      "mobile": f"139{n:08d}", "email": f"plain{n:04d}@example.com"}
            plaintext.update(values.values())
            session.add(Customer(customer_no=f"E{n:09d}", name=f"密文{n}", branch_id=
                                 world.branches["B1"], birth_date=birth, status="active",
                                 custom_fields={}, **values))
        session.flush()
        tables = inspect(connection).get_table_names()
        dump = []
        for table in tables:  # every table: no copy of a value may sit anywhere else either
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                dump.extend(str(value) for value in row if value is not None)
        raw = "\x00".join(dump)
    assert "密文999" in raw  # the rows are there ...
    leaked = sorted(value for value in plaintext if value in raw)
    assert leaked == [], f"{len(leaked)} plaintext values in the database, e.g. {leaked[:3]}"


def test_ciphertext_swapped_between_rows_or_columns_does_not_decrypt(app, world,
                                                                     rollback_session):
    session, connection = rollback_session
    expected_mobile = world_identity(app, world, "c_rm2")["mobile"]
    with app.app_context():
        one, two = world.customers["c_rm1"], world.customers["c_rm2"]
        rows = dict(connection.execute(text(
            "SELECT id, id_number_enc FROM customer WHERE id IN (:a, :b)"), {"a": one, "b": two}
        ).all())
        connection.execute(text("UPDATE customer SET id_number_enc = :v WHERE id = :id"),
                           [{"v": rows[two], "id": one}, {"v": rows[one], "id": two}])
        connection.execute(text("UPDATE customer SET email_enc = mobile_enc WHERE id = :id"),
                           {"id": two})
        first, second = session.get(Customer, one), session.get(Customer, two)
        with pytest.raises(DecryptionError, match="customer/id_number"):
            _ = first.id_number
        with pytest.raises(DecryptionError):
            _ = second.id_number
        with pytest.raises(DecryptionError, match="customer/email"):
            _ = second.email
        assert second.mobile == expected_mobile  # the untouched column still reads


def test_the_account_number_is_unique_through_its_blind_index(app, world, rollback_session):
    from sqlalchemy.exc import IntegrityError

    session, _connection = rollback_session
    with app.app_context():
        taken = world_identity(app, world, "c_rm1")["account_no"]
        session.add(Account(account_no=" ".join([taken[:4], taken[4:]]),  # spaces normalised
                            customer_id=world.customers["c_rm2"], product_id=world.product_id,
                            balance=0, opened_on=dt.date(2024, 1, 1), status="open"))
        with pytest.raises(IntegrityError):
            session.flush()


# --- search through the blind index, inside the record scope ------------------------------------


def matching_ids(app, field: str, value: str, username_id: int | None = None) -> set[int]:
    """Ground truth, the slow way: decrypt every customer and compare in Python (optionally only
    those owned or served by one user)."""
    from models.crypto import normalise

    kind = {"id_number": "id_number", "mobile": "mobile"}[field]
    with app.app_context():
        found = {c.id for c in db.session.scalars(select(Customer))
                 if getattr(c, field) == normalise(kind, value)
                 and (username_id is None or username_id in (c.owner_id, c.teller_id))}
        db.session.remove()
    return found


def test_orm_lookup_finds_exactly_the_customer(app, world):
    for key in CUSTOMERS:
        ident = world_identity(app, world, key)
        with app.app_context():
            found = set(db.session.scalars(select(Customer.id).where(
                Customer.id_number == ident["id_number"].lower())))
            assert world.customers[key] in found
            assert found == matching_ids(app, "id_number", ident["id_number"])
            if ident["mobile"]:
                found = set(db.session.scalars(select(Customer.id).where(
                    Customer.mobile == "+86 " + ident["mobile"])))
                assert found == matching_ids(app, "mobile", ident["mobile"])
                assert world.customers[key] in found
            assert db.session.scalars(select(Account.id).where(
                Account.account_no == ident["account_no"])).all() == [world.accounts[key]]
            db.session.remove()


def test_find_customer_by_identity_respects_the_scope(app, world):
    from backoffice.customers.refs import (
        AmbiguousIdentity,
        find_customer_by_identity,
        find_customers_by_identity,
    )
    from backoffice.security.scopes import RecordScope, as_scope

    rm1 = RecordScope("own", user_id=world.staff["rm1"])
    mine, theirs = world_identity(app, world, "c_rm1"), world_identity(app, world, "c_rm3")
    expected = {(field, ident[field]): matching_ids(app, field, ident[field], world.staff["rm1"])
                for field in ("id_number", "mobile") for ident in (mine, theirs)}
    with app.app_context():
        with as_scope(rm1):
            for (field, value), ids in expected.items():
                found = {c.id for c in find_customers_by_identity(**{field: value})}
                assert found == ids, (field, value)
            assert find_customer_by_identity(id_number=mine["id_number"]).id == \
                world.customers["c_rm1"]
            assert find_customer_by_identity(id_number=theirs["id_number"]) is None
            assert world.customers["c_rm3"] not in {
                c.id for c in find_customers_by_identity(mobile=theirs["mobile"])}
            assert find_customer_by_identity(id_number=theirs["id_number"],
                                             unscoped=True).id == world.customers["c_rm3"]
            assert find_customer_by_identity() is None
        assert find_customers_by_identity(id_number="110101000000000000") == []
        # Two customers sharing a mobile (a family): the import must not guess which one.
        shared = "13700000042"
        try:
            for n in (5, 6):
                db.session.add(Customer(
                    customer_no=f"Z00000000{n}", name=f"同号{n}", mobile=shared,
                    id_number=make_prc_id(dt.date(1990, 1, n), n), status="active",
                    branch_id=world.branches["B1"], custom_fields={}))
            db.session.flush()
            assert len(find_customers_by_identity(mobile=shared)) == 2
            with pytest.raises(AmbiguousIdentity):
                find_customer_by_identity(mobile=shared)
        finally:
            db.session.rollback()
            db.session.remove()


def _names_listed(body: str) -> set[str]:
    return {key for key in CUSTOMERS if f"客户{key}" in body}


@pytest.mark.parametrize("field", ["id_number", "mobile"])
def test_customer_list_search_goes_through_the_blind_index_and_the_scope(app, client_as, world,
                                                                         field):
    mine = world_identity(app, world, "c_rm1")[field]
    theirs = world_identity(app, world, "c_rm3")[field]
    assert mine and theirs
    rm1 = client_as("rm1")
    page = rm1.get(f"/customers/list/?_flt_0_{field}={quote(mine)}")
    assert page.status_code == 200
    assert "客户c_rm1" in page.get_data(as_text=True)
    if not matching_ids(app, field, theirs, world.staff["rm1"]):
        page = rm1.get(f"/customers/list/?_flt_0_{field}={quote(theirs)}")
        assert page.status_code == 200
        assert _names_listed(page.get_data(as_text=True)) == set()  # rm3's customer: not found
    senior = client_as("senior").get(f"/customers/list/?_flt_0_{field}={quote(theirs)}")
    assert "客户c_rm3" in senior.get_data(as_text=True)
    assert "客户c_rm2" not in senior.get_data(as_text=True) or \
        world.customers["c_rm2"] in matching_ids(app, field, theirs)


@pytest.mark.parametrize("field", ["id_number", "mobile"])
def test_customer_api_search_goes_through_the_blind_index_and_the_scope(app, client_as, world,
                                                                        field):
    def search(client, value):
        query = f"(filters:!((col:{field},opr:eq,value:'{value}')))"
        response = client.get(f"/api/v1/customer/?q={quote(query)}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return {row["id"] for row in response.json["result"]}

    rm1, senior = client_as("rm1"), client_as("senior")
    for key in ("c_rm1", "c_rm3"):
        value = world_identity(app, world, key)[field]
        assert search(senior, value) == matching_ids(app, field, value)
        assert search(rm1, value) == matching_ids(app, field, value, world.staff["rm1"])
    theirs = world_identity(app, world, "c_rm3")[field]
    assert world.customers["c_rm3"] not in search(rm1, theirs)  # out of scope: not found
    assert world.customers["c_rm3"] in search(senior, theirs)
    refused = rm1.get("/api/v1/customer/?q=" + quote(
        f"(filters:!((col:{field},opr:ct,value:'138')))"))
    assert refused.status_code == 400  # no substring search on an encrypted field


def test_account_search_by_number_is_exact(app, client_as, world):
    number = world_identity(app, world, "c_rm1")["account_no"]
    body = client_as("rm1").get(f"/accounts/list/?_flt_0_account_no={number}").get_data(
        as_text=True)
    assert "客户c_rm1" in body
    body = client_as("rm3").get(f"/accounts/list/?_flt_0_account_no={number}").get_data(
        as_text=True)
    assert "客户c_rm1" not in body


# --- keys from configuration --------------------------------------------------------------------


def test_embedded_default_generates_a_private_key_file_once(tmp_path):
    from backoffice.security import keys

    first = keys.keyring_for_config({"SECRET_KEY": "a"}, tmp_path)
    path = tmp_path / keys.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = keys.keyring_for_config({"SECRET_KEY": "something else"}, tmp_path)
    token = first.encrypt("secret", AAD)
    assert again.decrypt(token, AAD) == "secret"  # reused, and not derived from SECRET_KEY
    other = keys.keyring_for_config({"SECRET_KEY": "a"}, tmp_path / "elsewhere")
    with pytest.raises(DecryptionError):
        other.decrypt(token, AAD)


def test_production_without_keys_refuses_to_start(tmp_path, monkeypatch):
    from backoffice import create_app
    from backoffice.security import keys

    monkeypatch.setenv("CRM_ENV", "production")
    with pytest.raises(crypto.KeyConfigError, match="CRM_ENCRYPTION_KEYS"):
        keys.keyring_for_config({"SECRET_KEY": "x"}, tmp_path)
    assert not (tmp_path / keys.KEY_FILE).exists()
    with pytest.raises(crypto.KeyConfigError, match="Refusing to start"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}",
                    "SECRET_KEY": "x" * 32, "CRM_ENCRYPTION_KEYS": None})
    configured = keys.keyring_for_config({
        "CRM_ENCRYPTION_KEYS": {"2026a": crypto.generate_key()},
        "CRM_BLIND_INDEX_KEY": crypto.generate_key()}, tmp_path)
    assert configured.primary_kid == "2026a"


def test_the_app_key_ring_is_the_configured_one(app):
    from tests.conftest import make_test_config

    ring = app.extensions["crm_keyring"]
    assert ring.primary_kid == "test1"
    assert ring.to_settings() == {k: make_test_config("x")[k] for k in ring.to_settings()}


# --- migration 0002 on a database that already holds plaintext ----------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "configured"])
def test_migration_0002_encrypts_existing_plaintext(tmp_path, backend):
    from flask_migrate import downgrade, upgrade

    if backend == "configured" and not services.database_url():
        pytest.skip("needs PostgreSQL: set CRM_TEST_DATABASE_URL to a postgresql:// URL")
    birth = dt.date(1985, 5, 20)
    plain = {"id_number": make_prc_id(birth, 42), "mobile": "13512345678",
             "email": "old@example.com", "address": "南京市鼓楼区中山路1号",
             "account_no": "6222020000000000123"}
    with services.migration_app(tmp_path, sqlite=backend == "sqlite") as app, app.app_context():
        upgrade(revision="0001_initial")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO branch (id, code, name, city) "
                              "VALUES (1, 'M1', '迁移支行', '南京')"))
            conn.execute(text("INSERT INTO product (id, code, name, category, risk_level, "
                              "active) VALUES (1, 'P1', '活期', 'deposit', 'R1', true)"))
            conn.execute(text(
                "INSERT INTO customer (id, customer_no, name, customer_type, id_type, "
                "id_number, mobile, email, address, consent_sms, consent_email, "
                "consent_phone, consent_wechat, flag_elderly, flag_disability, flag_vip, "
                "branch_id, status, custom_fields, version, created_at, updated_at, "
                "birth_date) VALUES (1, 'C000000001', '旧客户', 'individual', 'PRC_ID', "
                ":id_number, :mobile, :email, :address, false, false, false, false, false, "
                "false, false, 1, 'active', '{}', 3, :now, :now, :birth)"),
                {**plain, "now": dt.datetime(2025, 1, 1), "birth": birth})
            conn.execute(text(
                "INSERT INTO account (id, account_no, customer_id, product_id, balance, "
                "currency, opened_on, status) VALUES (1, :account_no, 1, 1, 100, 'CNY', "
                ":opened, 'open')"), {"account_no": plain["account_no"],
                                      "opened": dt.date(2020, 1, 1)})

        upgrade(revision="0002_field_encryption")
        with db.engine.connect() as conn:
            raw = " ".join(str(v) for table in ("customer", "account")
                           for row in conn.execute(text(f"SELECT * FROM {table}"))
                           for v in row)
            columns = {c["name"] for c in inspect(conn).get_columns("customer")}
        assert not any(value in raw for value in plain.values())
        assert {"id_number", "mobile", "email", "address"}.isdisjoint(columns)
        assert {"record_uid", "id_number_enc", "id_number_bidx"} <= columns

        downgrade(revision="0001_initial")  # decrypts back
        with db.engine.connect() as conn:
            row = conn.execute(text("SELECT id_number, mobile, email, address FROM "
                                    "customer")).one()
            assert tuple(row) == (plain["id_number"], plain["mobile"], plain["email"],
                                  plain["address"])
            assert conn.execute(text("SELECT account_no FROM account")).scalar() == \
                plain["account_no"]

        upgrade(revision="heads")
        db.session.remove()
        customer = db.session.scalars(select(Customer)).one()
        assert (customer.id_number, customer.mobile, customer.email, customer.address) == \
            (plain["id_number"], plain["mobile"], plain["email"], plain["address"])
        assert customer.version == 3  # the migration is not a business change
        assert customer.annual_income is None
        account = db.session.scalars(select(Account)).one()
        assert account.account_no == plain["account_no"]
        assert db.session.scalars(select(Customer.id).where(
            Customer.mobile == plain["mobile"])).all() == [1]
        assert db.session.scalars(select(Account.id).where(
            Account.account_no == plain["account_no"])).all() == [1]
        db.session.remove()


def test_demo_loader_writes_ciphertext_and_indexes(tmp_path):
    """The set-based demo loader seals customers and accounts on the way in."""
    from flask_appbuilder.security.sqla.models import Role

    import models
    from backoffice.demo import load_demo

    engine = create_engine(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    models.Model.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Role.__table__), [{"name": n} for n in (
            "Admin", "SeniorManager", "BranchManager", "RelationshipManager", "Teller",
            "Operator", "Auditor")])
    ring = KeyRing.generate("demo")
    with Session(engine) as session:
        load_demo(session, customers=50, seed=3, tx_per_month=0, keyring=ring)
    with engine.connect() as conn:
        raw = conn.execute(select(Customer.__table__)).mappings().all()
        accounts = conn.execute(select(Account.__table__)).mappings().all()
    assert len({row["record_uid"] for row in raw}) == 50
    assert all(row["id_number_enc"].startswith("v1.demo.") for row in raw)
    with crypto.using_keyring(ring), Session(engine) as session:
        first = session.get(Customer, raw[0]["id"])
        assert session.scalars(select(Customer.id).where(
            Customer.id_number == first.id_number)).all() == [first.id]
        account = session.get(Account, accounts[0]["id"])
        assert len(account.account_no) == 19
    engine.dispose()


def test_branch_model_unaffected():
    """Plain models keep plain columns (a guard that the registry is per table)."""
    assert crypto.storage_columns("branch") == set()
    assert "name" in Branch.__table__.c


def test_rest_lists_load_ciphertexts_in_the_list_query(app, client_as, world):
    """FAB selects only the listed columns; an encrypted field brings its ciphertext and the
    row's record_uid into that same query instead of one lazy load per row and column."""
    from sqlalchemy import event

    client = client_as("senior")
    with app.app_context():
        engine = db.engine
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        accounts = client.get("/api/v1/account/")
        transactions = client.get("/api/v1/transaction/")
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert accounts.status_code == 200 and transactions.status_code == 200
    assert len(accounts.json["result"]) >= len(CUSTOMERS)
    assert all(row["account_no"] for row in accounts.json["result"])
    assert all(row["account"]["account_no"] for row in transactions.json["result"])
    lazy = [s for s in statements if "account_no_enc" in s and "record_uid" not in s]
    assert lazy == [], lazy[:2]
    lazy_uid = [s for s in statements if "record_uid" in s and "account_no_enc" not in s
                and "customer" not in s.split("FROM")[1][:40]]
    assert lazy_uid == [], lazy_uid[:2]
