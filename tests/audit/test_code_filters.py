"""The log's action and record-type filters are picked from their labels, not typed as codes.

An auditor chooses "查看客户360视图" and the list matches ``view_360`` exactly; a code the log holds
without a label (a new feature's action) is offered too, by its spelled-out words.
"""
from __future__ import annotations

import re
import uuid

import pytest

from backoffice.audit.log import record

IS, IS_NOT = 0, 1


def _form_html(html: str) -> str:
    """The list page with FAB's search-form template (JSON-escaped in a script) readable."""
    html = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)
    return html.replace('\\"', '"').replace("\\/", "/").replace("&#39;", "'")


@pytest.fixture
def rows(app, world):
    tag = uuid.uuid4().hex[:8]
    with app.test_request_context("/"):
        made = {
            "view": record("view_360", entity="Customer", entity_id=f"cf{tag}", actor="rm1",
                           customer_id=world.customers["c_rm1"]),
            "lower": record("view_360", entity="customer", entity_id=f"cf{tag}", actor="rm1"),
            "config": record("config_change", entity="FieldSet", entity_id=f"cf{tag}",
                             actor="admin", detail={"op": "update"}),
            "new": record("campaign.launch", entity="Campaign", entity_id=f"cf{tag}",
                          actor="admin"),
        }
    return tag, {name: row["id"] for name, row in made.items()}


@pytest.mark.parametrize("language, view_360, customer", [
    ("zh", "查看客户360视图", "客户"), ("en", "Opened the customer's 360 page", "Customer")])
def test_the_filters_offer_labels(app, client_as, rows, language, view_360, customer):
    client = client_as("auditor")
    client.get(f"/lang/{language}")
    html = _form_html(client.get("/auditlog/list/").get_data(as_text=True))
    assert f'<option value="view_360">{view_360}</option>' in html
    assert f'<option value="Customer">{customer}</option>' in html
    launched = "营销活动 · " if language == "zh" else "Campaign · "
    assert f'<option value="campaign.launch">{launched}' in html  # unlabelled: spelled out
    assert not re.search(r'<input[^>]*name="action"', html)
    assert not re.search(r'<input[^>]*name="entity"', html)
    # "Customer" and "customer" share a label: offered once.
    assert '<option value="customer">' not in html


def test_the_chosen_code_filters_the_list(app, client_as, rows):
    tag, ids = rows
    client = client_as("auditor")

    def listed(query):
        response = client.get(f"/auditlog/list/?_flt_3_entity_id=cf{tag}&{query}"
                              "&psize_AuditLogView=50")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        return {name for name, row_id in ids.items() if f"/auditlog/show/{row_id}" in html}

    assert listed(f"_flt_{IS}_action=view_360") == {"view", "lower"}
    assert listed(f"_flt_{IS_NOT}_action=view_360") == {"config", "new"}
    assert listed(f"_flt_{IS}_entity=Customer") == {"view", "lower"}
    assert listed(f"_flt_{IS}_entity=FieldSet") == {"config"}
    assert listed(f"_flt_{IS}_entity=Campaign") == {"new"}
    assert listed(f"_flt_{IS_NOT}_entity=Customer") == {"config", "new"}
    assert listed(f"_flt_{IS}_action=campaign.launch") == {"new"}
