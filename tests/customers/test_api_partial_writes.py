"""A REST API write validates and writes only what the request itself carried.

FAB's ``put`` merges the stored record into ``request.json`` before validation (DESIGN pitfall
12): read as "what was posted", that merged document made a PUT of one field re-validate and
re-seal every stored custom value (a sensitive value came back sealed twice, opening to
ciphertext) and refuse makers with a 422 for the fields of other roles the record holds. These
tests plant a sensitive, a hidden and a reviewed custom value, write one unrelated field as a
maker and as a checker, and open what is stored afterwards.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid

import pytest

from backoffice.extensions import db
from models import ChangeRequest, Customer
from models.fields import CustomFieldDefinition
from tests.support.web import api_token
from tests.support.world import make_prc_id

SECRET = f"SECRET-{uuid.uuid4().hex[:10]}"  # the sensitive custom value
HIDDEN = f"HIDDEN-{uuid.uuid4().hex[:10]}"  # a value of a field only senior managers see
LEVEL = "gold"


def bearer(client, username):
    return {"Authorization": f"Bearer {api_token(client, username)}"}


@pytest.fixture
def fields(app):
    """A sensitive field everyone sees, a field only senior managers see, a reviewed field, a
    field everyone sees but only senior managers may change."""
    made = []
    keys = {}
    specs = {
        "secret": dict(field_type="text", sensitive=True),
        "hidden": dict(field_type="text", visible_roles=["SeniorManager"]),
        "level": dict(field_type="choice", reviewed=True,
                      choices=[{"value": "gold", "label_zh": "金", "label_en": "Gold"},
                               {"value": "silver", "label_zh": "银", "label_en": "Silver"}]),
        "locked": dict(field_type="text", editable_roles=["SeniorManager"]),
    }
    with app.app_context():
        for name, attrs in specs.items():
            key = f"pw_{name}_{uuid.uuid4().hex[:6]}"
            definition = CustomFieldDefinition(key=key, entity="customer", label_zh=key,
                                               label_en=key, **attrs)
            db.session.add(definition)
            db.session.commit()
            made.append(definition.id)
            keys[name] = key
        db.session.remove()
    yield keys
    with app.app_context(), db.engine.begin() as connection:
        table = CustomFieldDefinition.__table__
        connection.execute(table.delete().where(table.c.id.in_(made)))


@pytest.fixture
def customer(app, world, fields):
    """A customer of rm1 in branch B1 holding a value in each of the fields."""
    from backoffice.fields import values as fv

    serial = secrets.randbelow(400) + 100
    birth = dt.date(1981, 3, 1 + serial % 27)
    with app.app_context():
        item = Customer(customer_no=f"PW{secrets.token_hex(4).upper()}", name="部分写入",
                        customer_type="individual", gender="F", birth_date=birth,
                        id_type="PRC_ID", id_number=make_prc_id(birth, serial, male=False),
                        mobile="13800990123", branch_id=world.branches["B1"],
                        owner_id=world.staff["rm1"], risk_tolerance="C3", status="active",
                        occupation="教师", custom_fields={})
        db.session.add(item)
        db.session.flush()
        fv.apply_values(item, {fields["secret"]: SECRET, fields["hidden"]: HIDDEN,
                               fields["level"]: LEVEL, fields["locked"]: "固定"})
        db.session.commit()
        customer_id = item.id
        db.session.remove()
    yield customer_id
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(ChangeRequest.__table__.delete().where(
            ChangeRequest.__table__.c.customer_id == customer_id))
        connection.execute(Customer.__table__.delete().where(Customer.__table__.c.id
                                                             == customer_id))


def stored(app, customer_id) -> tuple[dict, str, int]:
    with app.app_context():
        item = db.session.get(Customer, customer_id)
        result = dict(item.custom_fields), item.record_uid, item.version
        db.session.remove()
    return result


def opened(app, key, token, uid):
    from backoffice.fields import values as fv
    from backoffice.fields.registry import field_spec

    with app.app_context():
        return fv.from_storage(field_spec("customer", key), token, uid)


@pytest.mark.parametrize("username", ["rm1", "bm1", "senior"])
def test_put_of_one_field_leaves_every_stored_custom_value_as_it_was(app, client, fields,
                                                                     customer, username):
    """Maker and checkers alike: the stored ciphertext is byte for byte the same and opens once
    to the original; the hidden value is untouched; no 422 for fields the PUT did not carry."""
    before, uid, version = stored(app, customer)
    response = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, username),
                          json={"occupation": f"工程师{username}"})
    assert response.status_code == 200, response.json
    after, _, new_version = stored(app, customer)
    assert after == before  # not re-sealed, not re-validated, not dropped
    assert opened(app, fields["secret"], after[fields["secret"]], uid) == SECRET
    assert after[fields["hidden"]] == HIDDEN
    assert new_version == version + 1
    with app.app_context():
        assert db.session.get(Customer, customer).occupation == f"工程师{username}"
        db.session.remove()
    body = json.dumps(response.json, ensure_ascii=False)
    assert SECRET not in body  # the echo is masked like any read
    if username != "senior":  # only senior managers see the hidden field
        assert HIDDEN not in body and fields["hidden"] not in body
    else:
        assert HIDDEN in body


def test_put_of_a_custom_field_touches_only_that_key(app, client, fields, customer):
    before, uid, _ = stored(app, customer)
    response = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, "bm1"),
                          json={"custom_fields": {fields["secret"]: "新的秘密值"}})
    assert response.status_code == 200, response.json
    after, _, _ = stored(app, customer)
    assert opened(app, fields["secret"], after[fields["secret"]], uid) == "新的秘密值"
    assert {k: v for k, v in after.items() if k != fields["secret"]} == \
        {k: v for k, v in before.items() if k != fields["secret"]}


def test_maker_put_of_a_reviewed_custom_field_files_a_request_with_the_stored_values_intact(
        app, client, fields, customer):
    before, uid, version = stored(app, customer)
    response = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, "rm1"),
                          json={"custom_fields": {fields["level"]: "silver"}})
    assert response.status_code == 202, response.json
    after, _, new_version = stored(app, customer)
    assert after == before and new_version == version  # nothing written yet
    with app.app_context():
        proposed = db.session.get(ChangeRequest, response.json["change_request"]).values
        db.session.remove()
    assert set(proposed) == {"custom_fields"}  # only what the maker changed
    document = proposed["custom_fields"]
    assert document[fields["level"]] == "silver"
    assert document[fields["secret"]] == before[fields["secret"]]  # the same ciphertext
    assert document[fields["hidden"]] == HIDDEN


@pytest.mark.parametrize("username", ["rm1", "bm1"])
def test_hidden_field_carried_by_the_request_is_refused_as_unknown(app, client, fields,
                                                                   customer, username):
    before, _, version = stored(app, customer)
    response = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, username),
                          json={"occupation": "律师",
                                "custom_fields": {fields["hidden"]: "覆盖"}})
    assert response.status_code == 422, response.json
    message = json.dumps(response.json, ensure_ascii=False)
    assert fields["hidden"] in message and HIDDEN not in message
    # Exactly the message an unknown key gets: the field's existence is not confirmed.
    unknown = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, username),
                         json={"custom_fields": {"no_such_field_xyz": "覆盖"}})
    assert unknown.status_code == 422
    assert response.json["message"][f"custom_fields.{fields['hidden']}"].replace(
        fields["hidden"], "K") == unknown.json["message"][
        "custom_fields.no_such_field_xyz"].replace("no_such_field_xyz", "K")
    assert stored(app, customer)[0] == before and stored(app, customer)[2] == version


def test_read_only_field_carried_by_the_request_is_refused_by_name(app, client, fields,
                                                                   customer):
    before, _, _ = stored(app, customer)
    response = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, "bm1"),
                          json={"custom_fields": {fields["locked"]: "改掉"}})
    assert response.status_code == 422
    assert f"custom_fields.{fields['locked']}" in response.json["message"]
    assert stored(app, customer)[0] == before


def test_stored_values_that_break_todays_rules_do_not_block_a_partial_write(app, client,
                                                                           customer):
    """A legacy mobile stored before the rule existed: a PUT of the occupation still works,
    and a PUT carrying a bad mobile is still refused."""
    with app.app_context():
        item = db.session.get(Customer, customer)
        item.mobile = "12345"  # not a mainland mobile number
        db.session.commit()
        db.session.remove()
    ok = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, "bm1"),
                    json={"occupation": "医生"})
    assert ok.status_code == 200, ok.json
    bad = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, "bm1"),
                     json={"mobile": "555"})
    assert bad.status_code == 422 and "mobile" in bad.json["message"]


def test_post_checks_only_what_it_carries_and_refuses_hidden_and_read_only(app, client,
                                                                           world, fields):
    birth = dt.date(1992, 4, 5)
    payload = {"name": "接口新建", "customer_type": "individual", "gender": "M",
               "birth_date": birth.isoformat(), "id_type": "PRC_ID",
               "id_number": make_prc_id(birth, 377), "branch": world.branches["B1"],
               "status": "active"}
    headers = bearer(client, "bm1")
    hidden = client.post("/api/v1/customer/", headers=headers,
                         json={**payload, "custom_fields": {fields["hidden"]: "x"}})
    assert hidden.status_code == 422
    assert f"custom_fields.{fields['hidden']}" in hidden.json["message"]
    locked = client.post("/api/v1/customer/", headers=headers,
                         json={**payload, "custom_fields": {fields["locked"]: "x"}})
    assert locked.status_code == 422
    assert f"custom_fields.{fields['locked']}" in locked.json["message"]
    created = client.post("/api/v1/customer/", headers=headers,
                          json={**payload, "custom_fields": {fields["secret"]: SECRET}})
    assert created.status_code == 201, created.json
    new_id = created.json["id"]
    try:
        document, uid, _ = stored(app, new_id)
        assert opened(app, fields["secret"], document[fields["secret"]], uid) == SECRET
        assert fields["hidden"] not in document
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(Customer.__table__.delete().where(
                Customer.__table__.c.id == new_id))


def test_maker_post_files_a_request_whose_sealed_value_opens_once(app, client, world, fields):
    birth = dt.date(1993, 6, 7)
    response = client.post("/api/v1/customer/", headers=bearer(client, "rm1"), json={
        "name": "接口待审", "customer_type": "individual", "birth_date": birth.isoformat(),
        "id_type": "PRC_ID", "id_number": make_prc_id(birth, 378),
        "branch": world.branches["B1"], "status": "active",
        "custom_fields": {fields["secret"]: SECRET}})
    assert response.status_code == 202, response.json
    with app.app_context():
        request = db.session.get(ChangeRequest, response.json["change_request"])
        token, uid = request.values["custom_fields"][fields["secret"]], request.record_uid
        db.session.execute(ChangeRequest.__table__.delete().where(
            ChangeRequest.__table__.c.id == request.id))
        db.session.commit()
        db.session.remove()
    assert opened(app, fields["secret"], token, uid) == SECRET


def test_account_put_of_one_field_leaves_sealed_custom_values_as_they_were(app, client, world):
    """The same merge hit every API with custom fields: an account's sealed value too."""
    from backoffice.fields import values as fv
    from models import Account

    key = f"pw_acct_{uuid.uuid4().hex[:6]}"
    account_id = world.accounts["c_rm1"]
    with app.app_context():
        definition = CustomFieldDefinition(key=key, entity="account", label_zh=key,
                                           label_en=key, field_type="text", sensitive=True)
        db.session.add(definition)
        account = db.session.get(Account, account_id)
        original = (dict(account.custom_fields or {}), account.status)
        db.session.flush()
        fv.apply_values(account, {key: SECRET})
        db.session.commit()
        before, uid = dict(account.custom_fields), fv.record_uid(account)
        db.session.remove()
    try:
        response = client.put(f"/api/v1/account/{account_id}", headers=bearer(client, "rm1"),
                              json={"status": "frozen"})
        assert response.status_code == 200, response.json
        with app.app_context():
            account = db.session.get(Account, account_id)
            assert account.status == "frozen" and dict(account.custom_fields) == before
            db.session.remove()
        assert opened_account(app, key, before[key], uid) == SECRET
        assert SECRET not in json.dumps(response.json, ensure_ascii=False)
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(Account.__table__.update().where(
                Account.__table__.c.id == account_id).values(custom_fields=original[0],
                                                             status=original[1]))
            table = CustomFieldDefinition.__table__
            connection.execute(table.delete().where(table.c.key == key))


def opened_account(app, key, token, uid):
    from backoffice.fields import values as fv
    from backoffice.fields.registry import field_spec

    with app.app_context():
        return fv.from_storage(field_spec("account", key), token, uid)


def test_put_whose_body_is_not_an_object_is_refused_with_a_message(client, customer):
    response = client.put(f"/api/v1/customer/{customer}", headers=bearer(client, "bm1"),
                          json=["occupation", "x"])
    assert response.status_code in (400, 422)
    assert response.json.get("message")
