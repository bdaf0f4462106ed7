"""Forms that say what they want: the admin forms show their help texts (FAB gives
``description_columns`` only to the inputs it generates), a custom field's help text shows under
its input, and a list's "save view" picks columns by label in the order arranged."""
from __future__ import annotations

import re

from flask_babel import force_locale
from sqlalchemy import delete, select
from werkzeug.datastructures import MultiDict

from backoffice.extensions import db

from models.fields import FieldSet
from tests.fields.conftest import unique_key
from tests.support.visible_text import visible_text
from tests.support.web import csrf_token


def _zh(app, lazy) -> str:
    with app.test_request_context("/"), force_locale("zh"):
        return str(lazy)


def test_admin_forms_show_their_help_texts(app, client_as):
    from backoffice.fields.views import CustomFieldView, FieldSetView

    admin = client_as("admin")
    for url, view, names in (
            ("/custom-fields/add", CustomFieldView,
             ("visible_roles", "editable_roles", "choices", "sensitive", "value_roles", "key")),
            ("/field-sets/add", FieldSetView, ("columns", "filters", "role", "sort_column"))):
        text = visible_text(admin.get(url).get_data(as_text=True))
        for name in names:
            assert _zh(app, view.description_columns[name]) in text, (url, name)


def test_a_custom_fields_help_text_shows_under_its_input(app, client_as, db_session,
                                                        definitions):
    key = unique_key("card")
    definitions(key=key, field_type="text", label_zh="会员卡号", label_en="Card",
                help_text="卡背面右下角的十位数字")
    page = client_as("rm1").get("/customers/add").get_data(as_text=True)
    assert f'name="cf_{key}"' in page
    assert "卡背面右下角的十位数字" in visible_text(page)


def test_save_view_picks_columns_by_label_in_order(app, world, client_as, definitions):
    """(No ``db_session`` here: its app context would make the requests share ``g``.)"""
    key = unique_key("wallet")
    with app.app_context():
        definitions(key=key, field_type="integer", label_zh="钱包等级", label_en="Wallet")
        db.session.remove()
    bm1 = client_as("bm1")
    page = bm1.get("/customers/list/").get_data(as_text=True)
    form = page[page.index('id="save-view"'):]
    form = form[:form.index("</form>")]
    assert 'name="columns" value="name" checked' in form  # the list's columns, ticked
    assert f'name="columns" value="{key}"' in form
    shown = visible_text(form)
    assert "钱包等级" in shown and key not in shown and "customer_no" not in shown
    assert "Teller Id" not in shown and "Owner Id" not in shown  # unlabelled columns not offered
    name = unique_key("我的列")
    try:
        response = bm1.post("/customers/save-view", data=MultiDict([
            ("csrf_token", csrf_token(bm1, "/customers/list/")), ("name", name),
            ("columns", key), ("columns", "mobile"), ("columns", "name")]))
        assert response.status_code == 302
        with app.app_context():
            saved = db.session.scalars(select(FieldSet).where(FieldSet.name == name)).one()
            saved_id, saved_columns = saved.id, saved.columns
            db.session.remove()
        assert saved_columns == [key, "mobile", "name"]
        listed = bm1.get(f"/customers/list/?_fs={saved_id}").get_data(as_text=True)
        ticked = re.findall(r'name="columns" value="([^"]+)" checked', listed)
        assert ticked == [key, "mobile", "name"]
    finally:
        with app.app_context():
            db.session.execute(delete(FieldSet).where(FieldSet.name == name))
            db.session.commit()
            db.session.remove()
