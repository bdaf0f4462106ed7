"""A log row's detail reads in the auditor's language on the show page and in the export.

Field names are the screens' labels (custom fields' from the catalogue), coded values their
labels (a customer status, a custom choice), booleans yes/no, nothing a dash, times in the
display zone, and the action and record-type filters are picked by label. What the reader may
not see stays withheld: labelling shows no more than the redacted, policy-checked detail held.
"""
from __future__ import annotations

import csv
import io
import uuid

import pytest

from backoffice.audit.log import record
from tests.fields.conftest import definitions  # noqa: F401 - fixture
from tests.support.visible_text import visible_text

MOBILE = "13912345678"
HIDDEN_CHOICE = "zz_hidden_code"


def _choices(*pairs):
    return [{"value": value, "label_zh": zh, "label_en": en, "order": n}
            for n, (value, zh, en) in enumerate(pairs, start=1)]


@pytest.fixture
def logged(app, world, definitions):  # noqa: F811 - the imported fixture
    """A customer change naming a status, custom choices, a yes/no field, a field hidden from
    the auditor, a mobile and a time, as the automatic capture writes them."""
    tag = uuid.uuid4().hex[:8]
    with app.app_context():
        level = definitions(key=f"level_{tag}", label_zh=f"等级{tag}", label_en=f"Level{tag}",
                            field_type="choice",
                            choices=_choices(("gold", "金卡", "Gold card"),
                                             ("plat", "白金卡", "Platinum card")))
        vip = definitions(key=f"vip_{tag}", label_zh=f"贵宾{tag}", label_en=f"Vip{tag}",
                          field_type="boolean")
        secret = definitions(key=f"secret_{tag}", label_zh=f"内部{tag}",
                             label_en=f"Internal{tag}", field_type="choice",
                             visible_roles=["RelationshipManager"],
                             choices=_choices((HIDDEN_CHOICE, "机密标签", "Secret label")))
        from backoffice.fields import registry

        registry.invalidate()
        row = record("update", entity="Customer", entity_id=f"dl{tag}",
                     customer_id=world.customers["c_rm1"], detail={"changes": {
                         "status": {"before": "active", "after": "closed"},
                         f"custom_fields.{level.key}": {"before": None, "after": "plat"},
                         f"custom_fields.{vip.key}": {"before": False, "after": True},
                         f"custom_fields.{secret.key}": {"before": None,
                                                         "after": HIDDEN_CHOICE},
                         "mobile": {"before": MOBILE, "after": ""},
                         "updated_at": {"before": "2026-03-01T00:30:00", "after": None},
                     }})
    return {"row": row, "tag": tag, "level": level.key, "vip": vip.key, "secret": secret.key}


EXPECTED = {
    "zh": ("状态", "正常 → 已销户", "— → 白金卡", "否 → 是", "等级", "贵宾", "内部"),
    "en": ("Status", "Active → Closed", "— → Platinum card", "No → Yes", "Level", "Vip",
           "Internal"),
}
CODES = ("active", "closed", "plat", "True", "False", "None", "custom_fields", "{", "[")


def _detail_block(html: str) -> str:
    start = html.index('class="dl-horizontal crm-log-detail"')
    return visible_text(html[start - 4:html.index("</dl>", start)])


@pytest.mark.parametrize("language", ["zh", "en"])
def test_show_page_detail_is_labels(app, client_as, logged, language):
    client = client_as("auditor")
    client.get(f"/lang/{language}")
    html = client.get(f"/auditlog/show/{logged['row']['id']}").get_data(as_text=True)
    detail = _detail_block(html)
    status, change, choice, yes_no, level, vip, internal = EXPECTED[language]
    assert status in detail and change in detail and choice in detail and yes_no in detail
    assert f"{level}{logged['tag']}" in detail and f"{vip}{logged['tag']}" in detail
    for code in CODES:
        assert code not in detail, (code, detail)
    assert logged["level"] not in detail and logged["vip"] not in detail
    # Redaction and the field policy still hold: the mobile masked, the hidden field withheld
    # (its label may show, its value and that value's label may not).
    assert MOBILE not in html and "139****5678" in detail
    assert f"{internal}{logged['tag']}" in detail
    assert HIDDEN_CHOICE not in html and "机密标签" not in html and "Secret label" not in html
    # A time logged in UTC shows in the display zone (Asia/Shanghai: +8 hours).
    assert "2026-03-01 08:30" in detail


@pytest.mark.parametrize("language", ["zh", "en"])
def test_export_detail_is_labels(app, client_as, logged, language):
    client = client_as("auditor")
    client.get(f"/lang/{language}")
    response = client.get(f"/auditlog/export/csv?_flt_3_entity_id=dl{logged['tag']}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert len(rows) == 2, rows
    detail = next(cell for cell in rows[1] if "→" in cell)
    status, change, choice, yes_no, level, vip, internal = EXPECTED[language]
    for text in (status, change, choice, yes_no, f"{level}{logged['tag']}",
                 f"{vip}{logged['tag']}", "2026-03-01 08:30", "139****5678"):
        assert text in detail, (text, detail)
    for code in CODES:
        assert code not in detail, (code, detail)
    exported = response.get_data().decode("utf-8-sig")
    assert MOBILE not in exported and HIDDEN_CHOICE not in exported
    assert "机密标签" not in exported and "Secret label" not in exported


def test_a_created_records_values_read_field_by_field(app, logged):
    """A create row keeps ``{"values": {...}, "op": ...}``: one line per field, custom fields
    inside ``custom_fields`` by their labels, the operation as a word."""
    from flask_babel import force_locale

    from backoffice.audit.words import detail_lines

    detail = {"op": "create", "values": {
        "status": "active", "flag_vip": False, "closed_on": None,
        "custom_fields": {logged["level"]: "gold", logged["vip"]: True}}}
    with app.test_request_context("/"), force_locale("zh"):
        lines = dict(detail_lines(detail, "Customer"))
    assert lines["状态"] == "正常" and lines["贵宾"] == "否" and lines["销户日期"] == "—", lines
    assert lines[f"等级{logged['tag']}"] == "金卡" and lines[f"贵宾{logged['tag']}"] == "是"
    assert lines["操作"] == "新增", lines
