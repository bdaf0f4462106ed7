"""The operation log never stores a plaintext ID number, mobile, e-mail, address, account number,
deep-profile value or sensitive custom value, whichever path carried it in.

Unique markers travel through a list filter URL, an export URL (named filters and a nameless
search box), the REST API's rison ``q=``, a form post (the login form), a customer edit and a
free-text reason; then raw SQL over every text column of ``audit_log`` must find none of them,
while their masked forms are there (so the values did reach the log, masked).
"""
from __future__ import annotations

import datetime as dt
import secrets
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import String, Text, select

from backoffice.audit import redact
from backoffice.audit.log import record
from backoffice.extensions import db
from backoffice.security.masking import mask_value
from models import Customer
from models.audit import AuditLog
from models.fields import CustomFieldDefinition
from models.validators import luhn_check_digit
from tests.audit.conftest import last_id, verify_cli
from tests.support.web import api_token, csrf_token
from tests.support.world import make_prc_id


@pytest.fixture
def markers():
    serial = secrets.randbelow(400) + 50
    account = "6222" + "".join(str(secrets.randbelow(10)) for _ in range(14))
    return {
        "id_number": make_prc_id(dt.date(1979, 4, 1 + serial % 27), serial),
        "mobile": "139" + "".join(str(secrets.randbelow(10)) for _ in range(8)),
        "email": f"mk{secrets.token_hex(4)}@audit-marker.cn",
        "address": f"北京市朝阳区标记路{secrets.randbelow(900) + 100}号{secrets.randbelow(90) + 10}室",
        "account_no": account + luhn_check_digit(account),
        "income": f"{secrets.randbelow(9_000_000) + 1_000_000}.37",
        "custom": f"CFS{secrets.token_hex(6).upper()}",
    }


@pytest.fixture
def secret_field(app):
    """A sensitive custom field of customers (a value of no recognisable shape)."""
    key = f"aud_secret_{uuid.uuid4().hex[:6]}"
    with app.app_context():
        definition = CustomFieldDefinition(key=key, entity="customer", label_zh=key,
                                           label_en=key, field_type="text", sensitive=True)
        db.session.add(definition)
        db.session.commit()
        made = definition.id
        db.session.remove()
    yield key
    with app.app_context(), db.engine.begin() as connection:
        table = CustomFieldDefinition.__table__
        connection.execute(table.delete().where(table.c.id == made))


def _text_since(app, since) -> list[str]:
    """Every text column of every log row written after ``since``, by raw SQL."""
    table = AuditLog.__table__
    columns = [c for c in table.c if isinstance(c.type, (String, Text))]
    with app.app_context(), db.engine.connect() as connection:
        rows = connection.execute(select(*columns).where(table.c.id > since)).all()
    return [value for row in rows for value in row if value]


def _actions_since(app, since) -> list[str]:
    table = AuditLog.__table__
    with app.app_context(), db.engine.connect() as connection:
        return list(connection.execute(select(table.c.action).where(table.c.id > since))
                    .scalars())


def _assert_only_masked(app, since, markers, expect_masked):
    texts = _text_since(app, since)
    blob = "\n".join(texts)
    for name, value in markers.items():
        assert value not in blob, f"plaintext {name} {value} stored in the operation log"
    for kind, value in expect_masked:
        assert mask_value(kind, value) in blob, f"masked {kind} missing: {mask_value(kind, value)}"


def test_request_paths_store_only_masked_values(app, world, client_as, client, markers,
                                                secret_field):
    since = last_id(app)
    m = markers
    senior = client_as("senior")
    # A list filter URL and a search box (FAB's _flt_ arguments, a custom-field filter).
    senior.get(f"/customers/list/?_flt_0_name={quote(m['mobile'])}"
               f"&_flt_0_mobile={quote(m['mobile'])}&cf_{secret_field}={m['custom']}")
    # An export URL: named filters, a search box without a field name, deep-profile filters.
    exported = senior.get(
        f"/customers/export/csv?_flt_0_name={quote(m['id_number'])}"
        f"&_flt_1_name={quote(m['address'])}&search={quote(m['email'])}"
        f"&_flt_0_annual_income={m['income']}&account_no={m['account_no']}"
        f"&cf_{secret_field}={m['custom']}&note={quote(m['mobile'])}")
    assert exported.status_code in (200, 302, 400), exported.status_code
    # The REST API's rison q= (filters naming a plain and a sensitive column).
    headers = {"Authorization": f"Bearer {api_token(client, 'senior')}"}
    q = (f"(filters:!((col:name,opr:ct,value:'{m['mobile']}'),"
         f"(col:name,opr:ct,value:'{m['account_no']}')))")
    listed = client.get(f"/api/v1/customer/?q={quote(q)}&search={quote(m['email'])}",
                        headers=headers)
    assert listed.status_code in (200, 400), listed.status_code
    # A form post: the login form with an ID number typed as the user name.
    anonymous = app.test_client()
    anonymous.post("/login/", data={"username": m["id_number"], "password": "wrong-password-1",
                                    "csrf_token": csrf_token(anonymous, "/login/")})
    actions = _actions_since(app, since)
    assert "api_get" in actions and "login_failed" in actions, actions
    if exported.status_code == 200:
        assert "export" in actions, actions
    _assert_only_masked(app, since, {k: v for k, v in m.items() if k != "income"},
                        [("id_number", m["id_number"]), ("mobile", m["mobile"]),
                         ("email", m["email"])])
    assert verify_cli(app)[0] == 0


def test_customer_edit_and_free_text_store_only_masked_values(app, world, markers,
                                                              secret_field):
    m = markers
    since = last_id(app)
    with app.app_context():
        customer = db.session.get(Customer, world.customers["c_rm3"])
        before = {name: getattr(customer, name) for name in
                  ("mobile", "email", "address", "annual_income")}
        before_custom = dict(customer.custom_fields or {})
        customer.mobile, customer.email, customer.address = m["mobile"], m["email"], m["address"]
        customer.annual_income = m["income"]
        db.session.commit()
        # What a screen records of a request: a reason typed by hand, a form, a URL, a custom
        # field by name; none of them masked by the caller.
        record("reveal", entity="Customer", entity_id=customer.id, customer_id=customer.id,
               detail={"reason": f"客户 {m['id_number']} 来电, 卡 {m['account_no']}, "
                                 f"住 {m['address']}, 邮箱 {m['email']}",
                       "form": {"mobile": m["mobile"], "annual_income": m["income"],
                                f"custom_fields.{secret_field}": m["custom"],
                                secret_field: m["custom"]},
                       "url": f"/customers/list/?_flt_0_address={quote(m['address'])}"
                              f"&cf_{secret_field}__contains={m['custom']}"})
        for name, value in before.items():
            setattr(customer, name, value)
        customer.custom_fields = before_custom
        db.session.commit()
        db.session.remove()
    _assert_only_masked(app, since, m, [("mobile", m["mobile"]), ("email", m["email"]),
                                        ("id_number", m["id_number"]),
                                        ("account_no", m["account_no"])])
    assert verify_cli(app)[0] == 0


def test_shapes_are_recognised_without_a_field_name(markers):
    """A search box names no field: the value's shape decides (validators' definitions)."""
    m = markers
    text = (f"{m['id_number']} {m['mobile']} +86 {m['mobile']} {m['email']} "
            f"{m['account_no']} {m['address']}")
    cleaned = redact.redact_text(text)
    for name in ("id_number", "mobile", "email", "account_no", "address"):
        assert m[name] not in cleaned, name
    assert mask_value("id_number", m["id_number"]) in cleaned
    assert mask_value("account_no", m["account_no"]) in cleaned
    # Digests and small numbers are not values to mask.
    digest = "a" + "1234567890" * 6 + "bcd"
    assert redact.redact({"sha256": "1" * 64, "note": digest, "ids": [1, 22, 333],
                          "page": "2"}) == {"sha256": "1" * 64, "note": digest,
                                            "ids": [1, 22, 333], "page": "2"}


def test_filters_by_name_and_rison_are_masked(markers):
    m = markers
    detail = {"filters": {"_flt_0_address": "朝阳", "_flt_3_annual_income": "1000000",
                          "cf_x__from": "5"},
              "q": f"(filters:!((col:address,opr:ct,value:'{m['address']}'),"
                   f"(col:family_notes,opr:ct,value:'离异')))",
              "conditions": [{"field": "balance", "op": "gte", "value": 123456}]}
    out = redact.redact(detail, custom_kinds={"x": "secret"})
    assert out["filters"] == {"_flt_0_address": mask_value("address", "朝阳"),
                              "_flt_3_annual_income": "******", "cf_x__from": "******"}
    assert m["address"] not in out["q"] and "离异" not in out["q"]
    assert out["q"].startswith("(filters:!(")
    assert out["conditions"][0]["value"] == "******"
