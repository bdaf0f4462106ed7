"""A field an admin creates through the screen is live on the next request, in the same app:
add and edit forms, list column, filter, 360 page, API read and write, OpenAPI, export; and each
rule (required, pattern, range, unique, choice) refuses with the field's own message, writing
nothing."""
from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import func, select

from backoffice.extensions import db
from models import Customer
from models.fields import CustomFieldDefinition
from tests.fields.conftest import unique_key
from tests.support.web import api_token, post_form
from tests.support.world import make_prc_id

BIRTH = dt.date(1985, 3, 9)


def customer_form(name: str, serial: int, **custom) -> dict:
    data = {"name": name, "customer_type": "individual", "gender": "M",
            "birth_date": BIRTH.isoformat(), "id_type": "PRC_ID",
            "id_number": make_prc_id(BIRTH, serial), "status": "active", "branch": "1"}
    data.update(custom)
    return data


def count_named(app, prefix: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Customer)
                                 .where(Customer.name.startswith(prefix)))


def stored(app, name: str):
    with app.app_context():
        customer = db.session.scalars(select(Customer).where(Customer.name == name)).one()
        return customer.id, dict(customer.custom_fields)


@pytest.fixture
def cleanup(app):
    """Customers (by name prefix) and definitions (by key) the test made through the screens."""
    made = {"prefix": f"字段{uuid.uuid4().hex[:6]}", "keys": []}
    yield made
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            connection.execute(Customer.__table__.delete().where(
                Customer.__table__.c.name.startswith(made["prefix"])))
            table = CustomFieldDefinition.__table__
            connection.execute(table.delete().where(table.c.key.in_(made["keys"])))


def admin_adds(admin, cleanup, **form):
    base = {"entity": "customer", "position": "1", "choices": ""}
    cleanup["keys"].append(form["key"])
    response = post_form(admin, "/custom-fields/add", {**base, **form})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]


def read_csv(response):
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_a_new_field_is_live_on_every_path_without_a_restart(app, client_as, client,
                                                              cleanup):
    """Create through the admin screen, then use it in the add form, the list and its filter,
    the 360 page, the API (read, write, filter, OpenAPI) and the CSV export."""
    points, level = unique_key("points"), unique_key("level")
    admin = client_as("admin")
    admin_adds(admin, cleanup, key=points, label_zh="积分点数", label_en="Points",
               field_type="integer", min_value="0", max_value="1000", section="会员信息")
    admin_adds(admin, cleanup, key=level, label_zh="会员级别", label_en="Level",
               field_type="choice", choices="gold | 金卡 | Gold\nbasic | 普卡 | Basic",
               section="会员信息")
    senior = client_as("senior")
    form_page = senior.get("/customers/add").get_data(as_text=True)
    assert f'name="cf_{points}"' in form_page and "积分点数" in form_page
    assert f'name="cf_{level}"' in form_page and "金卡" in form_page

    prefix = cleanup["prefix"]
    response = post_form(senior, "/customers/add", customer_form(
        f"{prefix}甲", 301, **{f"cf_{points}": "420", f"cf_{level}": "gold"}))
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    post_form(senior, "/customers/add", customer_form(
        f"{prefix}乙", 302, **{f"cf_{points}": "15", f"cf_{level}": "basic"}))
    first_id, document = stored(app, f"{prefix}甲")
    assert document == {points: 420, level: "gold"}  # stored typed

    listed = senior.get(f"/customers/list/?_flt_0_name={prefix}").get_data(as_text=True)
    assert "积分点数" in listed and "420" in listed and "金卡" in listed
    filtered = senior.get(f"/customers/list/?_flt_0_name={prefix}&cf_{points}__from=100"
                          ).get_data(as_text=True)
    assert f"{prefix}甲" in filtered and f"{prefix}乙" not in filtered
    by_choice = senior.get(f"/customers/list/?_flt_0_name={prefix}&cf_{level}=basic"
                           ).get_data(as_text=True)
    assert f"{prefix}乙" in by_choice and f"{prefix}甲" not in by_choice

    page = senior.get(f"/customers/show/{first_id}").get_data(as_text=True)
    assert "会员信息" in page and "积分点数" in page and "420" in page and "金卡" in page

    edit_page = senior.get(f"/customers/edit/{first_id}").get_data(as_text=True)
    assert 'value="420"' in edit_page  # prefilled with the current value

    headers = {"Authorization": f"Bearer {api_token(client, 'senior')}"}
    shown = client.get(f"/api/v1/customer/{first_id}", headers=headers)
    assert shown.status_code == 200
    assert shown.json["result"]["custom_fields"][points] == 420
    assert shown.json["result"]["custom_fields"][level] == "gold"
    written = client.put(f"/api/v1/customer/{first_id}", headers=headers,
                         json={"custom_fields": {points: 777}})
    assert written.status_code == 200, written.json
    assert stored(app, f"{prefix}甲")[1] == {points: 777, level: "gold"}  # others kept
    listed = client.get(f"/api/v1/customer/?cf_{points}__from=700", headers=headers)
    assert listed.status_code == 200 and listed.json["ids"] == [first_id]
    spec = client.get("/api/v1/_openapi", headers=headers).json
    document_schema = spec["components"]["schemas"]["CustomerApi.get"]["properties"][
        "custom_fields"]
    assert document_schema["properties"][points]["type"] == "integer"
    assert document_schema["properties"][points]["maximum"] == 1000
    assert document_schema["properties"][level]["enum"] == ["gold", "basic"]

    exported = senior.get(f"/customers/export/csv?_flt_0_name={prefix}&cf_{level}=gold")
    assert exported.status_code == 200
    rows = read_csv(exported)
    header = rows[1]
    assert "积分点数" in header and "会员级别" in header
    body = rows[2:]
    assert len(body) == 1 and "777" in body[0] and "金卡" in body[0]


def test_each_rule_gives_the_fields_own_message_and_writes_nothing(app, client_as, client,
                                                                   cleanup):
    """Required, pattern (with its message), range, unique and choice: on the add form, the
    edit form and the API; nothing is written in any refused case."""
    code, score, tier = unique_key("code"), unique_key("score"), unique_key("tier")
    admin = client_as("admin")
    admin_adds(admin, cleanup, key=code, label_zh="合同编号", label_en="Contract",
               field_type="text", required="y", unique="y", regex=r"HT-\d{4}",
               regex_message="合同编号格式应为 HT-四位数字")
    admin_adds(admin, cleanup, key=score, label_zh="风险评分", label_en="Score",
               field_type="decimal", min_value="0", max_value="10")
    admin_adds(admin, cleanup, key=tier, label_zh="客户层级", label_en="Tier",
               field_type="choice", choices="a | 甲等 | A\nb | 乙等 | B")
    senior = client_as("senior")
    prefix = cleanup["prefix"]
    good = {f"cf_{code}": "HT-0001", f"cf_{score}": "5", f"cf_{tier}": "a"}
    assert post_form(senior, "/customers/add", customer_form(
        f"{prefix}原", 311, **good)).status_code == 302
    cases = [
        ({f"cf_{code}": ""}, "合同编号为必填项"),
        ({f"cf_{code}": "HT-12"}, "合同编号格式应为 HT-四位数字"),
        ({f"cf_{score}": "10.5"}, "风险评分不能大于 10"),
        ({f"cf_{code}": "HT-0001"}, "已被其他记录使用"),
        ({f"cf_{tier}": "z"}, "客户层级必须是所列选项之一"),
    ]
    for serial, (change, message) in enumerate(cases, start=312):
        data = customer_form(f"{prefix}错{serial}", serial, **{**good, f"cf_{code}":
                                                              f"HT-{serial:04d}", **change})
        response = post_form(senior, "/customers/add", data)
        assert response.status_code == 200, change
        assert message in response.get_data(as_text=True), (change, message)
    assert count_named(app, f"{prefix}错") == 0

    first_id, before = stored(app, f"{prefix}原")
    edit = customer_form(f"{prefix}原", 311, **{**good, f"cf_{score}": "-1"})
    edit.pop("id_number")
    response = post_form(senior, f"/customers/edit/{first_id}", edit)
    assert response.status_code == 200 and "风险评分不能小于 0" in response.get_data(
        as_text=True)
    assert stored(app, f"{prefix}原")[1] == before

    headers = {"Authorization": f"Bearer {api_token(client, 'senior')}",
               "Accept-Language": "zh"}
    for payload, message in [({code: "bad"}, "合同编号格式应为 HT-四位数字"),
                             ({score: "11"}, "不能大于 10"), ({tier: "c"}, "所列选项"),
                             ({"no_such_field": 1}, "no_such_field")]:
        refused = client.put(f"/api/v1/customer/{first_id}", headers=headers,
                             json={"custom_fields": payload})
        assert refused.status_code == 422, (payload, refused.json)
        assert message in str(refused.json["message"]), (payload, refused.json)
    assert stored(app, f"{prefix}原")[1] == before
