"""A field's roles reach every path: a role that may not see a field gets it from none (list,
360, edit form, API read and write, OpenAPI, export, filters); a sensitive field is stored
sealed and shown masked everywhere (screens, API, export, operation log); reviewed fields by a
maker wait for review."""
from __future__ import annotations

import json

import pytest

from sqlalchemy import select

from backoffice.extensions import db
from models import Customer
from models.audit import AuditLog
from tests.fields.conftest import unique_key
from tests.support.web import api_token, post_form


@pytest.fixture
def define(app):
    """Definitions made for one test (in their own app context, so that requests made by the
    test's clients keep theirs), deleted afterwards; tests only, screens never delete."""
    from models.fields import CustomFieldDefinition

    made: list[int] = []

    def make(**attrs):
        attrs.setdefault("entity", "customer")
        with app.app_context():
            definition = CustomFieldDefinition(**attrs)
            db.session.add(definition)
            db.session.commit()
            made.append(definition.id)

    yield make
    with app.app_context(), db.engine.begin() as connection:
        table = CustomFieldDefinition.__table__
        connection.execute(table.delete().where(table.c.id.in_(made)))


def bearer(client, username):
    return {"Authorization": f"Bearer {api_token(client, username)}"}


def set_values(app, customer_id, **values):
    """Store typed values through the storage code (sealing sensitive ones)."""
    from backoffice.fields import values as v
    from backoffice.fields.registry import field_catalog

    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        v.apply_values(customer, values, specs=field_catalog("customer"))
        db.session.commit()
        return dict(customer.custom_fields)


def restore(app, customer_id, document):
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(Customer.__table__.update().where(Customer.id == customer_id)
                           .values(custom_fields=document))


def row_of(app, customer_id) -> dict:
    """The customer's whole row (a test that edits through the form puts it back after)."""
    table = Customer.__table__
    with app.app_context(), db.engine.connect() as connection:
        return dict(connection.execute(select(table).where(table.c.id == customer_id))
                    .mappings().one())


def put_back(app, row: dict) -> None:
    table = Customer.__table__
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(table.update().where(table.c.id == row["id"]).values(**row))


def original(app, customer_id):
    with app.app_context():
        return dict(db.session.get(Customer, customer_id).custom_fields or {})


def test_a_role_that_may_not_see_a_field_meets_it_on_no_path(app, world, client_as, client,
                                                             define):
    """teller1 and rm2 serve c_rm2; the field is for senior managers only."""
    key = unique_key("secret_rating")
    define(key=key, field_type="integer", label_zh="内部评级", label_en="Internal rating",
                visible_roles=["SeniorManager"])
    customer_id = world.customers["c_rm2"]
    before = original(app, customer_id)
    set_values(app, customer_id, **{key: 8642})
    try:
        senior = client_as("senior")
        assert "8642" in senior.get(f"/customers/show/{customer_id}").get_data(as_text=True)
        for username in ("teller1", "rm2", "bm1"):
            web = client_as(username)
            for url in (f"/customers/show/{customer_id}", "/customers/list/",
                        f"/customers/edit/{customer_id}"):
                page = web.get(url)
                if page.status_code != 200:
                    assert page.status_code in (302, 404), (username, url)  # no edit right
                    continue
                body = page.get_data(as_text=True)
                assert "8642" not in body and "内部评级" not in body, (username, url)
                assert f"cf_{key}" not in body, (username, url)
            # a filter on it is refused as unknown: the list is not narrowed by it
            unfiltered = web.get("/customers/list/").get_data(as_text=True)
            probe = web.get(f"/customers/list/?cf_{key}__from=9000", follow_redirects=True)
            assert "T000000002" in probe.get_data(as_text=True) or "T000000002" not in unfiltered
            exported = web.get(f"/customers/export/csv?cf_{key}__from=9000")
            if exported.status_code == 200:
                text = exported.get_data().decode("utf-8-sig")
                assert "8642" not in text and "内部评级" not in text
            headers = bearer(client, username)
            shown = client.get(f"/api/v1/customer/{customer_id}", headers=headers)
            if shown.status_code == 200:
                assert key not in shown.json["result"]["custom_fields"]
            listed = client.get(f"/api/v1/customer/?cf_{key}=8642", headers=headers)
            assert listed.status_code == 400, (username, listed.status_code)
            written = client.put(f"/api/v1/customer/{customer_id}", headers=headers,
                                 json={"custom_fields": {key: 1}})
            assert written.status_code in (404, 422), (username, written.status_code)
            if written.status_code == 422:
                assert "不是该记录的字段" in json.dumps(written.json, ensure_ascii=False) or \
                    "not a field" in json.dumps(written.json)
            spec = client.get("/api/v1/_openapi", headers=headers)
            if spec.status_code == 200:
                assert key not in spec.get_data(as_text=True)
        with app.app_context():
            document = db.session.get(Customer, customer_id).custom_fields
        assert document[key] == 8642  # nobody's refused write changed it
    finally:
        restore(app, customer_id, before)


def edit_form_of(app, customer_id, **extra) -> dict:
    """The customer edit form as a browser posts it (sensitive built-ins blank: keep)."""
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        fields = {"name": customer.name, "customer_type": customer.customer_type,
                  "gender": customer.gender or "", "id_type": customer.id_type,
                  "birth_date": customer.birth_date.isoformat(),
                  "occupation": customer.occupation or "",
                  "risk_tolerance": customer.risk_tolerance or "",
                  "status": customer.status, "branch": str(customer.branch_id),
                  "owner": str(customer.owner_id or ""),
                  "expected_version": str(customer.version)}
        db.session.remove()
    return {**fields, **extra}


def test_a_field_visible_but_not_editable_is_shown_read_only_and_refused_on_write(
        app, world, client, client_as, define):
    """rm1 sees the field but only senior managers may edit it: the edit form shows it
    read-only with its value; a POST (or an API call) changing it is refused and writes
    nothing; the ordinary form (the browser sends no disabled input) saves the rest."""
    import re

    key, other = unique_key("kyc_level"), unique_key("kyc_note")
    define(key=key, field_type="text", label_zh="尽调等级", label_en="KYC level",
           editable_roles=["SeniorManager"])
    define(key=other, field_type="text", label_zh="尽调说明", label_en="KYC note")
    customer_id = world.customers["c_rm1"]
    before = row_of(app, customer_id)
    set_values(app, customer_id, **{key: "L3"})
    try:
        rm1 = client_as("rm1")
        assert "L3" in rm1.get(f"/customers/show/{customer_id}").get_data(as_text=True)
        edit = rm1.get(f"/customers/edit/{customer_id}").get_data(as_text=True)
        tag = re.search(rf'<input[^>]*name="cf_{key}"[^>]*>', edit).group(0)
        assert "disabled" in tag and 'value="L3"' in tag and "尽调等级" in edit
        assert "disabled" not in re.search(rf'<input[^>]*name="cf_{other}"[^>]*>',
                                           edit).group(0)
        url = f"/customers/edit/{customer_id}"
        refused = post_form(rm1, url, edit_form_of(app, customer_id, **{
            f"cf_{key}": "L1", f"cf_{other}": "改了说明"}))
        assert refused.status_code == 200
        assert "您无权修改尽调等级" in refused.get_data(as_text=True)
        assert original(app, customer_id)[key] == "L3"
        assert other not in original(app, customer_id)  # nothing of the form was written
        saved = post_form(rm1, url, edit_form_of(app, customer_id, **{f"cf_{other}": "已核"}))
        assert saved.status_code == 302, saved.get_data(as_text=True)[-2000:]
        assert original(app, customer_id)[key] == "L3"
        assert original(app, customer_id)[other] == "已核"
        unchanged = post_form(rm1, url, edit_form_of(app, customer_id, **{f"cf_{key}": "L3"}))
        assert unchanged.status_code == 302  # posting the shown value back changes nothing
        senior = client_as("senior").get(url).get_data(as_text=True)
        assert "disabled" not in re.search(rf'<input[^>]*name="cf_{key}"[^>]*>',
                                           senior).group(0)
        refused_api = client.put(f"/api/v1/customer/{customer_id}",
                                 headers=bearer(client, "rm1"),
                                 json={"custom_fields": {key: "L1"}})
        assert refused_api.status_code == 422
        assert original(app, customer_id)[key] == "L3"
    finally:
        put_back(app, before)


def test_sensitive_custom_values_are_sealed_and_masked_on_every_path(app, world, client_as,
                                                                     client, define):
    key = unique_key("spouse_mobile")
    define(key=key, field_type="mobile", label_zh="配偶手机", label_en="Spouse mobile",
                sensitive=True)
    customer_id = world.customers["c_rm1"]
    before = row_of(app, customer_id)
    try:
        senior = client_as("senior")
        form = senior.get(f"/customers/edit/{customer_id}").get_data(as_text=True)
        assert f'name="cf_{key}"' in form
        with app.app_context():
            customer = db.session.get(Customer, customer_id)
            fields = {"name": customer.name, "customer_type": customer.customer_type,
                      "gender": customer.gender or "", "id_type": customer.id_type,
                      "birth_date": customer.birth_date.isoformat(),
                      "occupation": customer.occupation or "",
                      "risk_tolerance": customer.risk_tolerance or "",
                      "status": customer.status, "branch": str(customer.branch_id),
                      "owner": str(customer.owner_id),
                      "expected_version": str(customer.version), f"cf_{key}": "13912340000"}
        response = post_form(senior, f"/customers/edit/{customer_id}", fields)
        assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
        stored = original(app, customer_id)[key]
        assert "13912340000" not in stored  # sealed in the JSON column
        masked = "139****0000"
        page = senior.get(f"/customers/show/{customer_id}").get_data(as_text=True)
        assert masked in page and "13912340000" not in page
        edit = senior.get(f"/customers/edit/{customer_id}").get_data(as_text=True)
        assert "13912340000" not in edit
        api = client.get(f"/api/v1/customer/{customer_id}", headers=bearer(client, "senior"))
        assert api.json["result"]["custom_fields"][key] == masked
        export = senior.get("/customers/export/csv?_flt_0_name=客户c_rm1")
        text = export.get_data().decode("utf-8-sig")
        assert masked in text and "13912340000" not in text
        with app.app_context():
            rows = db.session.scalars(select(AuditLog).where(
                AuditLog.entity == "Customer", AuditLog.action == "update")
                .order_by(AuditLog.id.desc()).limit(3)).all()
        logged = " ".join(row.detail or "" for row in rows)
        assert f"custom_fields.{key}" in logged and masked in logged
        assert "13912340000" not in logged and stored not in logged
        # a filter on a sealed field is refused (it cannot be compared)
        assert client.get(f"/api/v1/customer/?cf_{key}=13912340000",
                          headers=bearer(client, "senior")).status_code == 400
    finally:
        put_back(app, before)


def test_a_reviewed_custom_field_changed_by_a_maker_waits_for_review(app, world, client,
                                                                     define):
    key = unique_key("credit_line")
    define(key=key, field_type="money", label_zh="授信额度", label_en="Credit line",
                reviewed=True)
    customer_id = world.customers["c_rm1"]
    before = row_of(app, customer_id)
    try:
        response = client.put(f"/api/v1/customer/{customer_id}", headers=bearer(client, "rm1"),
                              json={"custom_fields": {key: "50000.00"}})
        assert response.status_code == 202, response.json
        assert key not in original(app, customer_id)
        approved = client.post(f"/api/v1/changerequest/{response.json['change_request']}"
                               "/approve", headers=bearer(client, "bm1"))
        assert approved.status_code == 200, approved.json
        assert original(app, customer_id)[key] == "50000.00"
    finally:
        put_back(app, before)


def test_interactions_and_accounts_take_custom_fields_too(app, world, client_as, client,
                                                          define):
    """The same wiring by entity name: interaction form and API, account API."""
    from models import Account, Interaction

    ikey, akey = unique_key("callback_reason"), unique_key("card_color")
    define(key=ikey, entity="interaction", field_type="choice", label_zh="回访原因",
                label_en="Reason", required=True,
                choices=[{"value": "price", "label_zh": "价格", "label_en": "Price",
                          "order": 1}])
    define(key=akey, entity="account", field_type="text", label_zh="卡面颜色",
                label_en="Card colour", max_length=10)
    rm1 = client_as("rm1")
    page = rm1.get("/interactions/add?customer_no=T000000001").get_data(as_text=True)
    assert f'name="cf_{ikey}"' in page and "价格" in page
    summary = unique_key("字段回访")
    data = {"customer": "T000000001", "channel": "phone", "direction": "outbound",
            "topic": "inquiry", "summary": summary}
    refused = post_form(rm1, "/interactions/add", data)
    assert refused.status_code == 200 and "回访原因为必填项" in refused.get_data(as_text=True)
    done = post_form(rm1, "/interactions/add", {**data, f"cf_{ikey}": "price"})
    assert done.status_code == 302
    with app.app_context():
        made = db.session.scalars(select(Interaction).where(Interaction.summary == summary)
                                  ).all()
        assert [m.custom_fields for m in made] == [{ikey: "price"}]
        interaction_id = made[0].id
    shown = client.get(f"/api/v1/interaction/{interaction_id}", headers=bearer(client, "rm1"))
    assert shown.json["result"]["custom_fields"] == {ikey: "price"}
    account_id = world.records_of("c_rm1")["Account"]
    headers = bearer(client, "senior")
    too_long = client.put(f"/api/v1/account/{account_id}", headers=headers,
                          json={"custom_fields": {akey: "深红色带金色边框的卡面"}})
    assert too_long.status_code == 422
    ok = client.put(f"/api/v1/account/{account_id}", headers=headers,
                    json={"custom_fields": {akey: "金色"}})
    assert ok.status_code == 200, ok.json
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert account.custom_fields == {akey: "金色"}
        account.custom_fields = {}
        db.session.query(Interaction).filter(Interaction.id == interaction_id).delete()
        db.session.commit()


def test_staff_pick_role_sets_and_save_their_own(app, world, client_as, define):
    """A role's field set sets the columns, order, default filter and sort; a personal set is
    saved from the list and only its owner sees it."""
    from models.fields import FieldSet

    key = unique_key("wallet")
    define(key=key, field_type="integer", label_zh="钱包等级", label_en="Wallet")
    ids = [world.customers["c_rm1"], world.customers["c_rm2"]]
    befores = [original(app, i) for i in ids]
    set_values(app, ids[0], **{key: 3})
    set_values(app, ids[1], **{key: 9})
    with app.app_context():
        role = app.appbuilder.sm.find_role("BranchManager")
        shared = FieldSet(entity="customer", name=unique_key("高钱包"), role_id=role.id,
                          columns=[key, "customer_no", "name"],
                          filters=[{"field": key, "op": "gte", "value": "5"}],
                          sort_column=key, sort_direction="desc")
        db.session.add(shared)
        db.session.commit()
        shared_id, shared_name = shared.id, shared.name
    name = unique_key("我的视图")
    try:
        bm1 = client_as("bm1")
        page = bm1.get("/customers/list/").get_data(as_text=True)
        assert shared_name in page  # offered to the role
        chosen = bm1.get(f"/customers/list/?_fs={shared_id}").get_data(as_text=True)
        assert "T000000002" in chosen and "T000000001" not in chosen  # default filter
        assert chosen.index("钱包等级") < chosen.index("客户编号") if "客户编号" in chosen \
            else True
        # remembered for the next request
        again = bm1.get("/customers/list/").get_data(as_text=True)
        assert "T000000001" not in again
        # rm1 is not a branch manager: the set is not theirs to pick. The list is narrowed to
        # this test's own value (only c_rm1 holds 3), so other customers cannot push c_rm1 off
        # the page; had the set's filter (>= 5) been applied too, c_rm1 would be missing.
        rm1 = client_as("rm1")
        narrowed = rm1.get(f"/customers/list/?_fs={shared_id}&cf_{key}=3").get_data(
            as_text=True)
        assert "T000000001" in narrowed and shared_name not in narrowed
        assert "T000000001" not in rm1.get(f"/customers/list/?cf_{key}=4").get_data(
            as_text=True)  # the narrowing is applied, not ignored
        from tests.support.web import csrf_token

        token = csrf_token(bm1, "/customers/add")
        response = bm1.post("/customers/save-view", data={
            "csrf_token": token, "name": name, "columns": f"name,{key}",
            f"cf_{key}__to": "5"})
        assert response.status_code == 302
        with app.app_context():
            mine = db.session.scalars(select(FieldSet).where(FieldSet.name == name)).one()
            assert mine.owner_id == world.staff["bm1"] and mine.columns == ["name", key]
            assert mine.filters == [{"field": key, "op": "lte", "value": "5"}]
            mine_id = mine.id
        listed = bm1.get(f"/customers/list/?_fs={mine_id}").get_data(as_text=True)
        assert "客户c_rm1" in listed and "客户c_rm2" not in listed  # columns: name, wallet
        assert "T000000001" not in listed  # customer_no is not among the set's columns
        other = client_as("bm2").get(f"/customers/list/?_fs={mine_id}").get_data(as_text=True)
        assert name not in other
    finally:
        for customer_id, document in zip(ids, befores):
            restore(app, customer_id, document)
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(FieldSet.__table__.delete().where(
                FieldSet.__table__.c.columns.isnot(None) & FieldSet.__table__.c.name.in_(
                    [shared_name, name])))
