"""A field set's default filters are picked, not typed: the field by its label (the record's own
columns and its custom fields), the operator from those that fit the field's type, the value
with an input of that type. Filters stored by the older typed form still apply and read by
label."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import delete, select
from werkzeug.datastructures import MultiDict

from backoffice.extensions import db
from models import Customer
from models.fields import FieldSet
from tests.fields.conftest import unique_key
from tests.support.visible_text import visible_text
from tests.support.web import csrf_token

WORDS = {
    "zh": {"status": "状态", "closed": "已销户", "active": "正常", "equal": "等于",
           "branch": "支行", "yes": "是"},
    "en": {"status": "Status", "closed": "Closed", "active": "Active", "equal": "equals",
           "branch": "Branch", "yes": "Yes"},
}


def _choices(*pairs):
    return [{"value": value, "label_zh": zh, "label_en": en, "order": n}
            for n, (value, zh, en) in enumerate(pairs, start=1)]


@pytest.fixture
def fields(app, definitions):
    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        made = {
            "points": definitions(key=f"points_{tag}", label_zh=f"积分{tag}",
                                  label_en=f"Points{tag}", field_type="integer"),
            "level": definitions(key=f"level_{tag}", label_zh=f"等级{tag}",
                                 label_en=f"Level{tag}", field_type="choice",
                                 choices=_choices(("gold", "金卡", "Gold card"),
                                                  ("basic", "普卡", "Basic card"))),
            "vip": definitions(key=f"vip_{tag}", label_zh=f"贵宾{tag}", label_en=f"Vip{tag}",
                               field_type="boolean"),
            "met": definitions(key=f"met_{tag}", label_zh=f"面谈{tag}", label_en=f"Met{tag}",
                               field_type="datetime"),
            "since": definitions(key=f"since_{tag}", label_zh=f"起始{tag}",
                                 label_en=f"Since{tag}", field_type="date"),
            "secret": definitions(key=f"secret_{tag}", label_zh=f"机密{tag}",
                                  label_en=f"Secret{tag}", field_type="text", sensitive=True),
        }
        keys = {name: spec.key for name, spec in made.items()}
        db.session.remove()
    return keys


@pytest.fixture
def people(app, world, fields):
    """Customers of branch B1 with a status and custom values (removed after the test)."""
    prefix = f"FP{uuid.uuid4().hex[:6]}"
    table = Customer.__table__
    rows = {
        "closed_3": ("closed", {fields["points"]: 3, fields["level"]: "gold"}),
        "closed_9": ("closed", {fields["points"]: 9, fields["level"]: "gold"}),
        "active_3": ("active", {fields["points"]: 3, fields["level"]: "basic"}),
    }
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(table.insert(), [
            {"customer_no": f"{prefix}{n:06d}", "name": f"{prefix}{name}", "status": status,
             "id_number_enc": "v1.none.placeholder", "id_number_bidx": "0" * 64,
             "branch_id": world.branches["B1"], "custom_fields": document}
            for n, (name, (status, document)) in enumerate(rows.items())])
    yield prefix
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(table.delete().where(table.c.customer_no.startswith(prefix)))


@pytest.fixture
def saved_sets(app):
    names = []
    yield names
    with app.app_context():
        db.session.execute(delete(FieldSet).where(FieldSet.name.in_(names)))
        db.session.commit()
        db.session.remove()


def _rows(html: str) -> dict:
    """The filter rows of a form: field key -> (entity, row html)."""
    found = {}
    for row in re.findall(r'<tr class="crm-filter-row".*?</tr>', html, flags=re.S):
        key = re.search(r'name="filters-\d+-field" value="([^"]*)"', row).group(1)
        entity = re.search(r'data-entity="([^"]*)"', row).group(1)
        found.setdefault(entity, {})[key] = row
    return found


def _ops(row: str) -> list[str]:
    select_html = re.search(r'<select class="form-control crm-filter-op".*?</select>', row,
                            flags=re.S).group(0)
    return re.findall(r'<option value="([^"]*)"', select_html)


def _index(row: str) -> str:
    return re.search(r'name="filters-(\d+)-field"', row).group(1)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_form_offers_fields_by_label_and_inputs_by_type(app, world, client_as, fields,
                                                            language):
    admin = client_as("admin")
    admin.get(f"/lang/{language}")
    html = admin.get("/field-sets/add").get_data(as_text=True)
    rows = _rows(html)["customer"]
    words = WORDS[language]
    # The record's own columns, by their labels; codes as labelled choices.
    status = rows["status"]
    assert f">{words['status']}</label>" in status
    assert _ops(status) == ["", "eq", "any_of"]
    assert f'<option value="closed">{words["closed"]}</option>' in status
    branch = rows["branch_id"]
    assert f">{words['branch']}</label>" in branch and ">Test Branch One</option>" in branch
    assert 'type="number"' in rows[fields["points"]]
    assert _ops(rows[fields["points"]]) == ["", "eq", "gt", "gte", "lt", "lte", "between"]
    assert 'data-crm-picker="date"' in rows[fields["since"]]
    assert 'data-crm-picker="datetime"' in rows[fields["met"]] and "crm-time" in \
        rows[fields["met"]]
    assert f'<option value="true">{words["yes"]}</option>' in rows[fields["vip"]]
    assert ">金卡<" in rows[fields["level"]] or ">Gold card<" in rows[fields["level"]]
    assert "contains" in _ops(rows["name"])
    # Sealed values do not compare: no sensitive column or field is offered.
    assert "mobile" not in rows and "id_number" not in rows and fields["secret"] not in rows
    # Labels, never keys, are what the admin reads.
    shown = visible_text(html[html.index('class="crm-filters"'):])
    assert fields["points"] not in shown and "branch_id" not in shown
    assert "interaction" in _rows(html)  # the other record types' rows, for script to show


def _post_set(admin, url, pairs):
    return admin.post(url, data=MultiDict([("csrf_token", csrf_token(admin, url)), *pairs]))


def test_picked_filters_are_stored_and_the_list_applies_them(app, world, client_as, fields,
                                                             people, saved_sets):
    admin = client_as("admin")
    form = admin.get("/field-sets/add").get_data(as_text=True)
    rows = _rows(form)["customer"]
    points, status, level = (_index(rows[k]) for k in (fields["points"], "status",
                                                      fields["level"]))
    name = unique_key("picked")
    saved_sets.append(name)
    response = _post_set(admin, "/field-sets/add", [
        ("entity", "customer"), ("name", name), ("columns", "customer:name"),
        ("columns", f"customer:{fields['points']}"), ("sort_direction", "asc"),
        (f"filters-{points}-entity", "customer"), (f"filters-{points}-field", fields["points"]),
        (f"filters-{points}-op", "between"), (f"filters-{points}-value", "1"),
        (f"filters-{points}-value2", "5"),
        (f"filters-{status}-entity", "customer"), (f"filters-{status}-field", "status"),
        (f"filters-{status}-op", "eq"), (f"filters-{status}-value", "closed"),
        (f"filters-{level}-entity", "customer"), (f"filters-{level}-field", fields["level"]),
        (f"filters-{level}-op", ""), (f"filters-{level}-value", "gold")])  # no condition
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    with app.app_context():
        saved = db.session.scalars(select(FieldSet).where(FieldSet.name == name)).one()
        saved_id, stored = saved.id, saved.filters
        db.session.remove()
    assert stored == [{"field": "status", "op": "eq", "value": "closed"},  # the form's order
                      {"field": fields["points"], "op": "between", "value": ["1", "5"]}]
    listed = client_as("bm1").get(f"/customers/list/?_fs={saved_id}&_flt_0_name={people}"
                                  ).get_data(as_text=True)
    assert f"{people}closed_3" in listed
    assert f"{people}closed_9" not in listed and f"{people}active_3" not in listed

    shown = visible_text(admin.get(f"/field-sets/show/{saved_id}").get_data(as_text=True))
    assert "积分" in shown and "介于" in shown and "状态 等于 已销户" in shown, shown
    assert "between" not in shown and "closed" not in shown and fields["points"] not in shown


def test_a_filter_for_another_record_type_or_of_the_wrong_type_is_refused(app, client_as,
                                                                           fields):
    admin = client_as("admin")
    rows = _rows(admin.get("/field-sets/add").get_data(as_text=True))
    topic = next(iter(rows["interaction"]))
    other = _index(rows["interaction"][topic])
    points = _index(rows["customer"][fields["points"]])
    base = [("entity", "customer"), ("name", unique_key("bad")), ("columns", "customer:name"),
            ("sort_direction", "asc")]
    foreign = _post_set(admin, "/field-sets/add", [
        *base, (f"filters-{other}-entity", "interaction"), (f"filters-{other}-field", topic),
        (f"filters-{other}-op", "eq"), (f"filters-{other}-value", "x")])
    topic_label = re.search(r"<label[^>]*>([^<]+)</label>", rows["interaction"][topic]).group(1)
    assert foreign.status_code == 200  # refused, nothing saved
    refused = foreign.get_data(as_text=True)
    after = refused[refused.index("crm-filter-add"):]
    message = after[after.index("alert-danger"):after.index("</td>")]
    assert topic_label in visible_text(message) and topic not in visible_text(message)
    wrong = _post_set(admin, "/field-sets/add", [
        *base, (f"filters-{points}-entity", "customer"),
        (f"filters-{points}-field", fields["points"]), (f"filters-{points}-op", "gt"),
        (f"filters-{points}-value", "many")])
    assert wrong.status_code == 200
    assert "筛选条件与字段不符" in wrong.get_data(as_text=True)
    # The refused form shows the row as posted, still picked.
    again = _rows(wrong.get_data(as_text=True))["customer"][fields["points"]]
    assert '<option value="gt" selected>' in again and 'value="many"' in again


def test_a_time_is_picked_in_the_display_zone_and_stored_in_utc(app, client_as, fields,
                                                                saved_sets):
    admin = client_as("admin")
    rows = _rows(admin.get("/field-sets/add").get_data(as_text=True))["customer"]
    met = _index(rows[fields["met"]])
    name = unique_key("times")
    saved_sets.append(name)
    response = _post_set(admin, "/field-sets/add", [
        ("entity", "customer"), ("name", name), ("columns", "customer:name"),
        ("sort_direction", "asc"), (f"filters-{met}-entity", "customer"),
        (f"filters-{met}-field", fields["met"]), (f"filters-{met}-op", "gte"),
        (f"filters-{met}-value", "2026-05-01"), (f"filters-{met}-value", "08:30")])
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    with app.app_context():
        saved = db.session.scalars(select(FieldSet).where(FieldSet.name == name)).one()
        saved_id, stored = saved.id, saved.filters
        db.session.remove()
    assert stored == [{"field": fields["met"], "op": "gte", "value": "2026-05-01 00:30:00"}]
    shown = visible_text(admin.get(f"/field-sets/show/{saved_id}").get_data(as_text=True))
    assert "2026-05-01 08:30" in shown
    edit = _rows(admin.get(f"/field-sets/edit/{saved_id}").get_data(as_text=True))
    row = edit["customer"][fields["met"]]
    assert 'value="2026-05-01"' in row and '<option value="08:30" selected>' in row


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_set_stored_by_the_typed_form_still_applies_and_reads_by_label(
        app, world, client_as, fields, people, saved_sets, language):
    """Filters saved before the picker (the same ``{"field", "op", "value"}``) keep working:
    the list applies them, the show page reads them by label, the edit form shows them picked
    and saving it unchanged keeps them as they were."""
    name = unique_key("older")
    saved_sets.append(name)
    older = [{"field": fields["level"], "op": "eq", "value": "gold"},
             {"field": fields["points"], "op": "gte", "value": "5"}]
    with app.app_context():
        made = FieldSet(entity="customer", name=name, columns=["name", fields["level"]],
                        filters=older, sort_direction="asc")
        db.session.add(made)
        db.session.commit()
        set_id = made.id
        db.session.remove()
    listed = client_as("bm1").get(f"/customers/list/?_fs={set_id}&_flt_0_name={people}"
                                  ).get_data(as_text=True)
    assert f"{people}closed_9" in listed
    assert f"{people}closed_3" not in listed and f"{people}active_3" not in listed

    admin = client_as("admin")
    admin.get(f"/lang/{language}")
    shown = visible_text(admin.get(f"/field-sets/show/{set_id}").get_data(as_text=True))
    level_label = ("等级", "金卡") if language == "zh" else ("Level", "Gold card")
    assert f"{level_label[0]}{fields['level'][-6:]} {WORDS[language]['equal']} " \
           f"{level_label[1]}" in shown, shown
    assert fields["level"] not in shown and "gold" not in shown and " eq " not in shown
    edit_html = admin.get(f"/field-sets/edit/{set_id}").get_data(as_text=True)
    rows = _rows(edit_html)
    assert set(rows) == {"customer"}  # editing: the set's own record type only
    level_row = rows["customer"][fields["level"]]
    assert '<option value="eq" selected>' in level_row
    assert '<option value="gold" selected>' in level_row
    # Saving the edit form as shown keeps the filters.
    pairs = [("name", name), ("columns", "name"), ("columns", fields["level"]),
             ("sort_direction", "asc")]
    for key, row in rows["customer"].items():
        number = _index(row)
        op = re.search(r'<option value="([^"]*)" selected>', row)
        if op and op.group(1):
            pairs += [(f"filters-{number}-entity", "customer"), (f"filters-{number}-field", key),
                      (f"filters-{number}-op", op.group(1))]
            value = re.search(r'name="filters-\d+-value" id="[^"]*" value="([^"]*)"', row)
            picked = re.findall(r'<option value="([^"]*)" selected>', row)[1:]
            for item in ([value.group(1)] if value else picked):
                pairs.append((f"filters-{number}-value", item))
    response = _post_set(admin, f"/field-sets/edit/{set_id}", pairs)
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    with app.app_context():
        assert db.session.get(FieldSet, set_id).filters == older
        db.session.remove()


def test_a_column_the_user_may_not_read_is_not_applied(app, world, client_as, saved_sets):
    """A set's filter on a column the policy hides from a role (an account's balance belongs
    to the deep profile) is left out for that role, with a notice: a filter is a read, and its
    count would tell the value. A role that reads the column has it applied."""
    from models import Account

    name = unique_key("deep")
    saved_sets.append(name)
    with app.app_context():
        made = FieldSet(entity="account", name=name, columns=["status"], sort_direction="asc",
                        filters=[{"field": "balance", "op": "gte", "value": "999999999"}])
        db.session.add(made)
        db.session.commit()
        set_id = made.id
        account_id = db.session.scalars(select(Account.id).where(
            Account.customer_id == world.customers["c_rm2"])).first()
        db.session.remove()
    link = f"/accounts/show/{account_id}"
    reader = client_as("senior").get(f"/accounts/list/?_fs={set_id}").get_data(as_text=True)
    assert link not in reader  # applied: no balance that high
    for username in ("teller1", "bm1"):
        response = client_as(username).get(f"/accounts/list/?_fs={set_id}")
        assert response.status_code == 200, username
        html = response.get_data(as_text=True)
        assert link in html, username  # not applied: the rows say nothing of the balance


def test_a_branch_is_picked_by_name_and_filters_by_its_id(app, world, client_as, people,
                                                         saved_sets):
    admin = client_as("admin")
    rows = _rows(admin.get("/field-sets/add").get_data(as_text=True))["customer"]
    branch = _index(rows["branch_id"])
    b1, b2 = world.branches["B1"], world.branches["B2"]
    assert f'<option value="{b2}">Test Branch Two</option>' in rows["branch_id"]
    ids = {}
    for code, branch_id in (("B1", b1), ("B2", b2)):
        name = unique_key(f"branch {code}")
        saved_sets.append(name)
        response = _post_set(admin, "/field-sets/add", [
            ("entity", "customer"), ("name", name), ("columns", "customer:name"),
            ("sort_direction", "asc"), (f"filters-{branch}-entity", "customer"),
            (f"filters-{branch}-field", "branch_id"), (f"filters-{branch}-op", "eq"),
            (f"filters-{branch}-value", str(branch_id))])
        assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
        with app.app_context():
            saved = db.session.scalars(select(FieldSet).where(FieldSet.name == name)).one()
            ids[code] = saved.id
            assert saved.filters == [{"field": "branch_id", "op": "eq", "value": str(branch_id)}]
            db.session.remove()
    senior = client_as("senior")
    mine = senior.get(f"/customers/list/?_fs={ids['B1']}&_flt_0_name={people}"
                      ).get_data(as_text=True)
    other = senior.get(f"/customers/list/?_fs={ids['B2']}&_flt_0_name={people}"
                       ).get_data(as_text=True)
    assert f"{people}closed_3" in mine and f"{people}active_3" in mine
    assert f"{people}closed_3" not in other and f"{people}active_3" not in other
    shown = visible_text(admin.get(f"/field-sets/show/{ids['B2']}").get_data(as_text=True))
    assert "支行 等于 Test Branch Two" in shown, shown
