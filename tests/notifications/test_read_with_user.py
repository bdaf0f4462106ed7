"""The bell's count and the configuration counters come with the request's user load.

One statement opens a signed-in page (``security.user_load``); what it reads must still be the
user's own: each member of staff's bell counts their own unread notices, whoever else has
some, and a page that reads the counters after writing configuration reads them afresh.
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from tests.support.statements import counting


def _bell(html: str) -> str | None:
    found = re.search(r'id="crm-bell-count">([^<]+)<', html)
    return found.group(1) if found else None


def test_each_bell_counts_its_own_unread_notices(make_staff, logged_in, raise_notice):
    first, first_name = make_staff("Teller", "B1")
    second, second_name = make_staff("Teller", "B1")
    for n in range(2):
        raise_notice([first], "rule", _l("Rule notification %(n)s", n=f"own-4410-{n}"))
    for n in range(3):
        raise_notice([second], "rule", _l("Rule notification %(n)s", n=f"own-4411-{n}"))
    assert _bell(logged_in(first_name).get("/notifications/").get_data(as_text=True)) == "2"
    assert _bell(logged_in(second_name).get("/notifications/").get_data(as_text=True)) == "3"


def test_one_statement_reads_the_user_the_counters_and_the_bell(app, make_staff, logged_in):
    _me, username = make_staff("Teller", "B1")
    client = logged_in(username)
    client.get("/notifications/")  # first request: menus and caches built
    with counting(app) as seen:
        response = client.get("/notifications/")
    assert response.status_code == 200
    statements = [" ".join(s.split()) for s in seen["statements"]]
    opening = [s for s in statements if re.search(r"\bFROM ab_user\b", s)]
    assert len(opening) == 1, opening
    assert "crm_config_version" in opening[0] and "notification" in opening[0]
    alone = [s for s in statements if s not in opening
             and ("crm_config_version" in s or re.search(r"count\(\*\).*\bnotification\b", s))]
    assert not alone, alone


def test_no_bell_value_crosses_to_a_user_loaded_later(app, make_staff, raise_notice):
    """Loading another member of staff (an admin screen) keeps the request's own values."""
    from backoffice.extensions import db
    from backoffice.security import user_load

    me, _ = make_staff("Teller", "B1")
    other, _ = make_staff("Teller", "B1")
    raise_notice([other], "rule", _l("Rule notification %(n)s", n="other-4412"))
    with app.test_request_context("/"):
        sm = app.appbuilder.sm
        sm.load_user(me)
        assert user_load.loaded("unread_notifications", me) == 0
        assert user_load.loaded("unread_notifications", other) is user_load.MISSING
        sm.get_user_by_id(other)  # not the request's user load: remembers nothing
        assert user_load.loaded("unread_notifications", me) == 0
        db.session.remove()
