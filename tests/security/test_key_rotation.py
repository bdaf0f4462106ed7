"""Key rotation with data in place: re-encrypt to the primary key, retire the old key, read all.

Rotation runs over plain Core connections (it is an operator task, not a request), so most tests
use a bare engine per backend (SQLite, and a scratch schema on PostgreSQL when the suite runs
there); the last ones drive ``flask crm keys ...`` through apps configured like production.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.orm import Session

import models
from backoffice.security import keys
from models import Account, Branch, Customer, crypto
from models.crypto import KeyRing, UnknownKeyId
from tests.support import services
from tests.support.world import make_prc_id

N_CUSTOMERS = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path, app):
    """A bare engine; ``app`` because building one registers what the features seal outside the
    encrypted columns (custom values, import files), which rotation re-seals too."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'rotation.sqlite3'}")
        models.Model.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    url = services.require_postgresql()
    schema = f"rot_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        models.Model.metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def fill(engine, ring: KeyRing, count: int = N_CUSTOMERS) -> dict[int, tuple]:
    """Customers (with one account each) written through the ORM with ``ring``; returns the
    plaintext by customer id."""
    expected = {}
    with crypto.using_keyring(ring), Session(engine) as session:
        branch = Branch(code=f"R{uuid.uuid4().hex[:6]}", name="轮换支行")
        session.add(branch)
        session.flush()
        for n in range(count):
            birth = dt.date(1960 + n % 40, 1 + n % 12, 1 + n % 28)
            customer = Customer(
                customer_no=f"K{n:09d}", name=f"轮换{n}", branch_id=branch.id, status="active",
                id_number=make_prc_id(birth, n % 500), mobile=f"137{n:08d}",
                email=f"r{n}@example.com" if n % 3 else None, address=f"地址{n}",
                annual_income=f"{100000 + n}.00" if n % 2 else None, custom_fields={})
            session.add(customer)
            session.flush()
            session.add(Account(account_no=f"62220{n:014d}", customer_id=customer.id,
                                product_id=_product(session), balance=0,
                                opened_on=dt.date(2020, 1, 1), status="open"))
            expected[customer.id] = _plain(customer)
        session.commit()
    return expected


def _product(session) -> int:
    from models import Product

    product = session.scalars(select(Product).where(Product.code == "ROT")).first()
    if product is None:
        product = Product(code="ROT", name="轮换产品", category="deposit", risk_level="R1")
        session.add(product)
        session.flush()
    return product.id


def _plain(customer) -> tuple:
    return (customer.id_number, customer.mobile, customer.email, customer.address,
            customer.annual_income, tuple(a.account_no for a in customer.accounts))


def read_all(engine, ring: KeyRing) -> dict[int, tuple]:
    with crypto.using_keyring(ring), Session(engine) as session:
        return {c.id: _plain(c) for c in session.scalars(select(Customer).order_by(Customer.id))}


def business_state(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id, version, updated_at FROM customer ORDER BY id")).all()


def test_rotation_with_data_in_place_then_the_old_key_is_retired(engine):
    old = KeyRing.generate("2025")
    expected = fill(engine, old)
    before = business_state(engine)
    new = old.with_key("2026")  # both keys configured, the new one primary
    status = keys.key_status(engine, new)
    assert status["customer.id_number"] == {"2025": N_CUSTOMERS, "2026": 0}
    assert status["account.account_no"]["2025"] == N_CUSTOMERS

    seen = []
    report = keys.rotate(engine, new, batch_size=7,
                         progress=lambda table, done, total: seen.append((table, done, total)))
    assert report.rewritten["customer"] == report.rewritten["account"] == N_CUSTOMERS
    assert ("customer", 0, N_CUSTOMERS) in seen and ("customer", N_CUSTOMERS, N_CUSTOMERS) in seen
    assert len([s for s in seen if s[0] == "customer"]) == 1 + -(-N_CUSTOMERS // 7)

    status = keys.key_status(engine, new)
    assert all(counts.get("2025", 0) == 0 for counts in status.values()), status
    assert status["customer.mobile"]["2026"] == N_CUSTOMERS
    retired = new.without("2025")  # the old key removed from the configuration
    assert read_all(engine, retired) == expected
    assert business_state(engine) == before  # no version bump, updated_at untouched
    with crypto.using_keyring(retired), Session(engine) as session:
        first = session.get(Customer, min(expected))
        assert session.scalars(select(Customer.id).where(
            Customer.mobile == first.mobile)).all() == [first.id]  # blind index unchanged


def test_rotation_is_resumable(engine):
    old = KeyRing.generate("a")
    expected = fill(engine, old)
    new = old.with_key("b")

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(table, done, total):
        if done:
            raise Interrupted

    with pytest.raises(Interrupted):
        keys.rotate(engine, new, batch_size=10, progress=stop_after_first_batch)
    half = keys.key_status(engine, new)["customer.id_number"]
    assert half == {"a": N_CUSTOMERS - 10, "b": 10}  # the first batch was committed
    report = keys.rotate(engine, new, batch_size=10)
    assert report.rewritten["customer"] == N_CUSTOMERS - 10  # only what was left
    assert keys.key_status(engine, new)["customer.id_number"] == {"a": 0, "b": N_CUSTOMERS}
    assert read_all(engine, new.without("a")) == expected
    again = keys.rotate(engine, new, batch_size=10)  # nothing left to do
    assert again.rewritten["customer"] == 0 and again.rewritten["account"] == 0


def test_a_value_changed_during_rotation_is_not_overwritten(engine):
    old = KeyRing.generate("a")
    fill(engine, old, count=5)
    new = old.with_key("b")
    with engine.connect() as conn:
        victim, uid = conn.execute(text("SELECT id, record_uid FROM customer ORDER BY id")).first()
    fresh = new.encrypt("13999999999", crypto.aad("customer", "mobile", uid))

    class RacingRing(KeyRing):
        """Encrypts like ``new``, but a user saves the victim's mobile mid-batch."""

        raced = False

        def encrypt(self, plaintext, aad):
            if not RacingRing.raced:
                RacingRing.raced = True
                with engine.begin() as conn:
                    conn.execute(update(Customer.__table__).where(Customer.id == victim)
                                 .values(mobile_enc=fresh))
            return super().encrypt(plaintext, aad)

    racing = RacingRing(new._keys, "b", new._blind_key)
    report = keys.rotate(engine, racing, batch_size=100)
    assert report.raced == 1
    # The raced row kept its other old ciphertexts too; the next run picks it up.
    assert keys.rotate(engine, new).rewritten["customer"] == 1
    with crypto.using_keyring(new.without("a")), Session(engine) as session:
        assert session.get(Customer, victim).mobile == "13999999999"  # the user's value won
    status = keys.key_status(engine, new)
    assert all(counts.get("a", 0) == 0 for counts in status.values()), status


def test_status_names_rows_on_a_key_that_is_no_longer_configured(engine):
    old = KeyRing.generate("gone")
    fill(engine, old, count=3)
    new = old.with_key("kept").without("gone")  # retired too early
    status = keys.key_status(engine, new)
    assert status["customer.id_number"] == {"kept": 0, "gone": 3}
    with pytest.raises(UnknownKeyId, match="gone"):
        keys.rotate(engine, new)
    with pytest.raises(UnknownKeyId):
        read_all(engine, new)


def test_instance_key_file_takes_a_new_primary_key(tmp_path):
    ring = keys.instance_keyring(tmp_path)
    token = ring.encrypt("x", crypto.aad("customer", "email", "u" * 32))
    keys.add_instance_key(tmp_path, "k2", crypto.generate_key())
    updated = keys.instance_keyring(tmp_path)
    assert updated.primary_kid == "k2" and set(updated.kids) == {"k1", "k2"}
    assert updated.decrypt(token, crypto.aad("customer", "email", "u" * 32)) == "x"
    assert oct((tmp_path / keys.KEY_FILE).stat().st_mode & 0o777) == "0o600"


# --- the commands, through apps configured like production --------------------------------------


def _app(url, ring: KeyRing):
    from backoffice import create_app
    from tests.conftest import make_test_config

    return create_app(make_test_config(url, **ring.to_settings()))


def test_flask_crm_keys_commands(tmp_path):
    from flask_migrate import upgrade

    from backoffice.extensions import db

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    old = KeyRing.generate("k2025")
    first = _app(url, old)
    with first.app_context():
        upgrade(revision="heads")
        expected = fill(db.engine, old, count=9)

    new = old.with_key("k2026")  # a random new key, made the primary
    both = _app(url, new)
    runner = both.test_cli_runner()
    status = runner.invoke(args=["crm", "keys", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["columns"]["customer.id_number"] == {"k2025": 9, "k2026": 0}
    rotated = runner.invoke(args=["crm", "keys", "rotate", "--batch-size", "4"])
    assert rotated.exit_code == 0, rotated.output
    assert "customer: 4/9 rows checked" in rotated.output
    assert "customer: 9/9 rows checked" in rotated.output
    summary = json.loads(rotated.output.strip().splitlines()[-1])
    assert summary["primary"] == "k2026" and summary["rewritten"]["customer"] == 9
    status = runner.invoke(args=["crm", "keys", "status"])
    assert "values not on the primary key: 0" in status.output, status.output

    retired = _app(url, new.without("k2025"))  # the old key removed from the configuration
    with retired.app_context():
        assert read_all(db.engine, retired.extensions["crm_keyring"]) == expected
        db.engine.dispose()

    generated = runner.invoke(args=["crm", "keys", "generate", "--kid", "k2027"])
    assert generated.exit_code == 0
    key = generated.stdout.strip().splitlines()[0]
    assert len(base64.b64decode(key)) == 32
    with both.app_context():
        db.engine.dispose()
