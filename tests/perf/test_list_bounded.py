"""A list page's statements do not depend on how many branches (or products) the bank has.

FAB's relation filters fill their select with ``count(*)`` and a read of the whole related table
on every list page; the search form now lists a cached copy (``views_base.relation_choices``),
read again only when the table's counter moves.
"""
from __future__ import annotations

import re
import uuid

from sqlalchemy import delete

from backoffice.extensions import db
from models import Branch
from tests.scale.test_query_counts import counting

WHOLE_TABLE = re.compile(r"\bFROM (branch|product)\b(?![^()]*\bWHERE\b)", re.IGNORECASE)


def _page_statements(app, client, url) -> list[str]:
    client.get(url)  # the first request after a change rebuilds the cached lists
    with counting(app) as seen:
        response = client.get(url)
    assert response.status_code == 200
    return seen["statements"]


def test_list_statements_are_bounded_whatever_the_number_of_branches(app, world, client_as):
    client = client_as("senior")
    before = _page_statements(app, client, "/customers/list/")
    codes = [f"Q{uuid.uuid4().hex[:6]}" for _ in range(40)]
    try:
        with app.app_context():
            db.session.add_all(Branch(code=code, name=f"Branch {code}") for code in codes)
            db.session.commit()
            db.session.remove()
        after = _page_statements(app, client, "/customers/list/")
    finally:
        with app.app_context():
            db.session.execute(delete(Branch).where(Branch.code.in_(codes)))
            db.session.commit()
            db.session.remove()
    assert len(after) == len(before), (before, after)
    assert not [s for s in after if WHOLE_TABLE.search(s)], "a widget read a whole table"


def test_the_search_form_still_filters_by_branch(app, world, client_as):
    """The cached select feeds FAB's own relation filter: the chosen branch's customers only."""
    client = client_as("senior")
    branch_cell = re.compile(r"<td>\s*(Test Branch \w+)\s*</td>")
    # Each branch's filter, not the unfiltered first page: other tests' customers may fill
    # that page from one branch alone.
    for code, name in (("B1", "Test Branch One"), ("B2", "Test Branch Two")):
        page = client.get(f"/customers/list/?_flt_0_branch={world.branches[code]}")
        assert set(branch_cell.findall(page.get_data(as_text=True))) == {name}
