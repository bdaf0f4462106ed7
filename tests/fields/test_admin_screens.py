"""The admin's custom-field and field-set screens: create through the form (CSRF on), the
whole-definition check with messages next to the fields (Chinese, the default language),
archive that keeps data, no delete, and the registry seeing a new field on the next call
without a restart."""
from __future__ import annotations

import re

from sqlalchemy import select

from backoffice.fields import registry
from backoffice.fields.values import validate_record
from models import Customer
from models.audit import AuditLog
from models.fields import CustomFieldDefinition, FieldSet
from tests.fields.conftest import unique_key
from tests.support.visible_text import visible_text
from tests.support.web import csrf_token, post_form

BASE = {"entity": "customer", "label_zh": "会员等级", "label_en": "Membership level",
        "field_type": "choice", "position": "1",
        "choices": "gold | 金卡 | Gold\nsilver | 银卡 | Silver\nbasic | 普卡 | Basic"}


def definition(db_session, key):
    db_session.expire_all()
    return db_session.execute(select(CustomFieldDefinition).where(
        CustomFieldDefinition.key == key)).scalar_one_or_none()


def cleanup(app, *keys):
    from backoffice.extensions import db

    with app.app_context(), db.engine.begin() as connection:
        table = CustomFieldDefinition.__table__
        connection.execute(table.delete().where(table.c.key.in_(keys)))


def test_admin_creates_a_choice_field_through_the_form_and_it_is_live(app, client_as,
                                                                      db_session):
    key = unique_key("member_level")
    admin = client_as("admin")
    try:
        response = post_form(admin, "/custom-fields/add", {
            **BASE, "key": key, "required": "y", "visible_roles": ["RelationshipManager",
                                                                   "SeniorManager"]})
        assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
        made = definition(db_session, key)
        assert made is not None and made.field_type == "choice" and made.required
        assert made.choices == [
            {"value": "gold", "label_zh": "金卡", "label_en": "Gold", "order": 1},
            {"value": "silver", "label_zh": "银卡", "label_en": "Silver", "order": 2},
            {"value": "basic", "label_zh": "普卡", "label_en": "Basic", "order": 3}]
        assert made.visible_roles == ["SeniorManager", "RelationshipManager"]
        # the registry sees it on the next call, same app, no restart
        spec = registry.field_spec("customer", key)
        assert spec is not None and spec.choice_values == ("gold", "silver", "basic")
        assert spec.storage_path == f"custom_fields.{key}"
        assert spec.label("zh") == "会员等级" and spec.label("en") == "Membership level"
        assert spec.visible_to(["RelationshipManager"]) and not spec.visible_to(["Teller"])
        # and record validation uses it, with its own messages
        clean, errors = validate_record("customer", {key: "platinum"}, specs=[spec])
        assert key in errors and "会员等级" in errors[key]
        clean, errors = validate_record("customer", {}, specs=[spec])
        assert key in errors  # required
        assert validate_record("customer", {key: "gold"}, specs=[spec]) == ({key: "gold"}, {})
        # the configuration change is in the operation log
        logged = db_session.execute(select(AuditLog).where(
            AuditLog.entity == "CustomField", AuditLog.action == "config_change")).scalars()
        assert any(key in (row.detail or "") for row in logged)
        # the list shows it
        assert key in admin.get("/custom-fields/list/?psize_custom_field=100").get_data(
            as_text=True) or key in admin.get(f"/custom-fields/show/{made.id}").get_data(
            as_text=True)
    finally:
        cleanup(app, key)


def test_bad_definitions_are_refused_next_to_their_fields_and_nothing_is_saved(
        app, client_as, db_session):
    admin = client_as("admin")
    cases = [
        ({"key": "Bad Key"}, "小写字母开头"),
        ({"key": "name"}, "系统内置字段"),
        ({"key": unique_key("k"), "choices": ""}, "至少需要一个选项"),
        ({"key": unique_key("k"), "choices": "a | 甲\na | 乙"}, "重复出现"),
        ({"key": unique_key("k"), "field_type": "integer", "choices": "",
          "min_value": "10", "max_value": "1"}, "最大值小于最小值"),
        ({"key": unique_key("k"), "field_type": "text", "choices": "", "regex": "(["},
         "正则表达式"),
        ({"key": unique_key("k"), "field_type": "money", "choices": "",
          "default_text": "1.234"}, "2 位小数"),
        ({"key": unique_key("k"), "field_type": "text", "choices": "", "unique": "y",
          "sensitive": "y"}, "不能设为唯一"),
    ]
    for change, message in cases:
        data = {**BASE, **change}
        response = post_form(admin, "/custom-fields/add", data)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, change
        assert message in body, (change, message)
        assert definition(db_session, data["key"]) is None


def test_archive_hides_the_field_and_keeps_its_data_and_there_is_no_delete(
        app, client_as, db_session, scratch_customers, definitions):
    key = unique_key("loyalty")
    made = definitions(key=key, field_type="integer")
    ids = scratch_customers([{key: 5}, {key: 9}])
    assert registry.field_spec("customer", key) is not None
    admin = client_as("admin")
    token = csrf_token(admin, "/custom-fields/add")
    response = admin.post("/custom-fields/action_post", data={
        "csrf_token": token, "action": "archive_items", "rowid": [str(made.id)]})
    assert response.status_code == 302
    db_session.expire_all()
    assert db_session.get(CustomFieldDefinition, made.id).status == "archived"
    assert registry.field_spec("customer", key) is None
    assert registry.field_spec("customer", key, include_archived=True) is not None
    docs = db_session.execute(select(Customer.custom_fields).where(Customer.id.in_(ids))
                              ).scalars().all()
    assert sorted(doc[key] for doc in docs) == [5, 9]
    assert admin.post(f"/custom-fields/delete/{made.id}",
                      data={"csrf_token": token}).status_code == 404
    assert db_session.get(CustomFieldDefinition, made.id) is not None
    admin.post("/custom-fields/action_post", data={
        "csrf_token": token, "action": "restore_items", "rowid": [str(made.id)]})
    assert registry.field_spec("customer", key) is not None


def test_key_cannot_change_once_records_hold_values(app, client_as, db_session,
                                                    scratch_customers, definitions):
    key = unique_key("branch_code")
    made = definitions(key=key, field_type="text", label_zh="代码", label_en="Code")
    admin = client_as("admin")
    form = {"key": unique_key("renamed"), "label_zh": "代码", "label_en": "Code",
            "field_type": "text", "position": "0"}
    scratch_customers([{key: "X1"}])
    response = post_form(admin, f"/custom-fields/edit/{made.id}", form)
    assert response.status_code == 200
    assert "字段标识不能修改" in response.get_data(as_text=True)
    assert definition(db_session, key) is not None


def test_type_change_through_the_edit_form_is_refused_with_the_count(
        app, client_as, db_session, scratch_customers, definitions):
    key = unique_key("score")
    made = definitions(key=key, field_type="text", label_zh="评分", label_en="Score")
    ids = scratch_customers([{key: "12"}, {key: "x"}, {key: "30"}])
    admin = client_as("admin")
    form = {"key": key, "label_zh": "评分", "label_en": "Score", "field_type": "integer",
            "position": "0"}
    response = post_form(admin, f"/custom-fields/edit/{made.id}", form)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "已存储的 3 个值中有 1 个无法转换" in body and str(ids[1]) in body
    assert definition(db_session, key).field_type == "text"
    from backoffice.extensions import db

    with db.engine.begin() as connection:
        connection.execute(Customer.__table__.update().where(Customer.id == ids[1])
                           .values(custom_fields={key: "7"}))
    response = post_form(admin, f"/custom-fields/edit/{made.id}", form)
    assert response.status_code == 302
    db_session.expire_all()
    docs = dict(db_session.execute(select(Customer.id, Customer.custom_fields)
                                   .where(Customer.id.in_(ids))).all())
    assert [docs[i][key] for i in ids] == [12, 7, 30]
    assert definition(db_session, key).field_type == "integer"


def test_other_roles_have_no_field_screens(client_as):
    for username in ("rm1", "teller1", "auditor", "senior"):
        client = client_as(username)
        assert client.get("/custom-fields/list/").status_code != 200
        assert client.get("/field-sets/list/").status_code != 200


def _post_pairs(client, url, pairs):
    """Post a form whose inputs repeat a name (the column picker's ticked boxes, in order)."""
    from werkzeug.datastructures import MultiDict

    from tests.support.web import csrf_token

    return client.post(url, data=MultiDict([("csrf_token", csrf_token(client, url)), *pairs]))


def test_admin_saves_a_field_set_with_ordered_columns_and_filters(app, client_as, db_session,
                                                                  definitions):
    """The add form's picker posts one ``record type:column`` value per ticked column, in the
    order the admin arranged them; that order is the set's."""
    key = unique_key("segment")
    definitions(key=key, field_type="integer")
    admin = client_as("admin")
    name = unique_key("RM view")
    form = admin.get("/field-sets/add").get_data(as_text=True)
    assert f'value="customer:{key}"' in form and 'value="customer:mobile"' in form
    assert "手机号" in form or "Mobile" in form  # picked by label, not typed
    bad = _post_pairs(admin, "/field-sets/add", [
        ("entity", "customer"), ("name", name), ("columns", "customer:name"),
        ("columns", "customer:nope"), ("filters", ""), ("sort_direction", "asc")])
    assert bad.status_code == 200 and "未知的列：nope" in bad.get_data(as_text=True)
    bad = _post_pairs(admin, "/field-sets/add", [
        ("entity", "customer"), ("name", name), ("columns", "customer:name"),
        ("columns", "interaction:topic"), ("filters", ""), ("sort_direction", "asc")])
    assert bad.status_code == 200 and "topic" in bad.get_data(as_text=True)
    bad = _post_pairs(admin, "/field-sets/add", [
        ("entity", "customer"), ("name", name), ("columns", "customer:name"),
        ("columns", f"customer:{key}"), ("filters-0-entity", "customer"),
        ("filters-0-field", key), ("filters-0-op", "contains"), ("filters-0-value", "3"),
        ("sort_direction", "asc")])
    assert bad.status_code == 200 and "筛选条件与字段不符" in bad.get_data(as_text=True)
    good = _post_pairs(admin, "/field-sets/add", [
        ("entity", "customer"), ("name", name), ("columns", f"customer:{key}"),
        ("columns", "customer:customer_no"), ("columns", "customer:name"),
        ("columns", "customer:mobile"), ("filters-0-entity", "customer"),
        ("filters-0-field", key), ("filters-0-op", "between"), ("filters-0-value", "1"),
        ("filters-0-value2", "5"),
        ("sort_column", "name"), ("sort_direction", "desc")])
    assert good.status_code == 302, good.get_data(as_text=True)[-1500:]
    db_session.expire_all()
    saved = db_session.execute(select(FieldSet).where(FieldSet.name == name)).scalar_one()
    try:
        assert saved.columns == [key, "customer_no", "name", "mobile"]
        assert saved.filters == [{"field": key, "op": "between", "value": ["1", "5"]}]
        assert saved.sort_direction == "desc" and saved.status == "active"
        # The edit form offers the set's own record type only, its columns ticked in order.
        edit = admin.get(f"/field-sets/edit/{saved.id}").get_data(as_text=True)
        ticked = re.findall(r'name="columns" value="([^"]+)" checked', edit)
        assert ticked == [key, "customer_no", "name", "mobile"]
        assert 'data-entity="interaction"' not in edit
        shown = admin.get(f"/field-sets/show/{saved.id}").get_data(as_text=True)
        shown_text = visible_text(shown)
        assert "customer_no" not in shown_text, shown_text
        assert "客户号" in shown_text or "Customer number" in shown_text
        moved = _post_pairs(admin, f"/field-sets/edit/{saved.id}", [
            ("name", name), ("columns", "mobile"), ("columns", key), ("filters", ""),
            ("sort_column", ""), ("sort_direction", "asc")])
        assert moved.status_code == 302, moved.get_data(as_text=True)[-1500:]
        db_session.expire_all()
        assert db_session.get(FieldSet, saved.id).columns == ["mobile", key]
    finally:
        db_session.delete(saved)
        db_session.commit()


def test_list_show_and_edit_pages_render_the_structured_values(client_as, db_session,
                                                              definitions):
    key = unique_key("tier_hint")
    made = definitions(key=key, field_type="multi_choice", label_zh="偏好", label_en="Likes",
                       choices=[{"value": "fund", "label_zh": "基金", "label_en": "Funds",
                                 "order": 1},
                                {"value": "gold", "label_zh": "黄金", "label_en": "Gold",
                                 "order": 2}],
                       visible_roles=["Teller"])
    admin = client_as("admin")
    assert admin.get("/custom-fields/list/").status_code == 200
    shown = admin.get(f"/custom-fields/show/{made.id}")
    assert shown.status_code == 200 and "基金" in shown.get_data(as_text=True)
    edit = admin.get(f"/custom-fields/edit/{made.id}").get_data(as_text=True)
    assert "fund | 基金 | Funds" in edit and "gold | 黄金 | Gold" in edit
    assert admin.get("/field-sets/list/").status_code == 200
    assert admin.get("/field-sets/add").status_code == 200
