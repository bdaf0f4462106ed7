"""The list rows written in Python (``backoffice.list_rows``) are FAB's rows, cell for cell.

Both are rendered from the same values: FAB's own row block (``appbuilder/general/widgets/
list.html``) and the app's (``crm_widgets/list_rows.html``), with text that needs escaping,
``Markup`` that must not be escaped again, empty and ``None`` cells, a formatter, keys that need
quoting in a URL, the action check boxes and the show, edit and delete buttons; the two are
compared with whitespace between tags ignored.
"""
import re

import pytest
from markupsafe import Markup

from backoffice.list_rows import PK_MARK, list_rows_html


class _NoFilters:
    """The page's filters as the row block reads them: no related-view filter."""

    def get_filters_values(self):
        return []


def _rows(app, template_name: str, **values) -> str:
    env = app.jinja_env
    template = env.get_template(template_name)
    context = template.new_context({**values,
                                    "lib": env.get_template("appbuilder/general/lib.html").module})
    html = "".join(template.blocks["begin_loop_values"](context))
    html = re.sub(r'nonce="[^"]*"', 'nonce=""', html)
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


@pytest.mark.parametrize("buttons", [
    {"can_show": True, "can_edit": True, "can_delete": True, "actions": {"mark": object()}},
    {"can_show": True, "can_edit": False, "can_delete": False, "actions": {}},
    {"can_show": False, "can_edit": False, "can_delete": False, "actions": {}},
])
def test_python_rows_are_fabs_rows(app, buttons):
    rows = [
        {"customer_no": "C<1>&\"x\"", "name": Markup("<b>王小明</b>"), "status": None,
         "branch": "", "tier": 3},
        {"customer_no": "C2", "name": "<script>alert(1)</script>", "status": "active",
         "branch": "总行 & 分行", "tier": 0},
    ]
    pks = [17, "a b/c?d"]
    values = {"value_columns": rows, "pks": pks,
              "include_columns": ["customer_no", "name", "status", "branch", "tier"],
              "formatters_columns": {"tier": lambda value: Markup(f"<i>P{value}</i>")},
              "filters": _NoFilters(), "modelview_name": "CustomerView", **buttons}
    with app.test_request_context("/customers/list/"):
        fab = _rows(app, "appbuilder/general/widgets/list.html", **values)
        ours = _rows(app, "crm_widgets/list_rows.html", crm_list_rows=list_rows_html,
                     crm_row_pk=PK_MARK, **values)
    assert fab.count("<tr>") == 2
    assert "&lt;script&gt;" in fab and "<b>王小明</b>" in fab  # the test's values do need care
    assert ours == fab
