"""A crawl of every screen and API route as every role: nothing unmasked, nothing deep.

Guards the security issue's promise that masking and the deep-profile rule do not depend on the
screen: every GET route in the URL map is requested as every seeded user, for every customer's
records, and each response is searched for the plaintext of any sensitive value (the seeded
values themselves and any mainland mobile or 18-digit ID number pattern) and for the deep-profile
values of customers the user may not see in depth.
"""
from __future__ import annotations

import json
import re

import pytest

from backoffice.security.scopes import SCOPED_ENTITIES
from tests.support.world import (CUSTOMERS, DEEP_VISIBLE, STAFF, VISIBLE, deep_markers,
                                 make_prc_id)

SKIP_PREFIXES = ("/static", "/lang/", "/logout", "/login", "/appbuilder", "/swagger")
# Bounded by anything but letters, digits and mask stars: hashes and tokens (hex, base64) hold
# long digit runs that are not identifiers.
MOBILE = re.compile(r"(?<![0-9A-Za-z*])1[3-9]\d{9}(?![0-9A-Za-z*])")
PRC_ID = re.compile(r"(?<![0-9A-Za-z*])\d{17}[\dX](?![0-9A-Za-z*])")


def plaintexts(app, world) -> list[str]:
    """The seeded sensitive values, read through the model (decrypted)."""
    from backoffice.extensions import db
    from models import Account, Customer

    values = []
    with app.app_context():
        for key, pk in world.customers.items():
            customer = db.session.get(Customer, pk)
            values += [customer.id_number, customer.mobile, customer.email, customer.address]
            values.append(db.session.get(Account, world.accounts[key]).account_no)
    return [v for v in values if v]


def urls_for(app, world):
    """Every GET URL to crawl, with ``<pk>`` filled from each customer's records."""
    views = {view.endpoint: view for view in app.appbuilder.baseviews}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(SKIP_PREFIXES):
            continue
        view = views.get(rule.endpoint.split(".")[0])
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        args = rule.arguments - {"pk"}
        if args == {"fmt"}:  # list exports: the CSV is text the checks below can read
            yield rule.rule.replace("<string:fmt>", "csv")
            continue
        if args - {"field"}:
            continue  # downloads by file name, actions by name: exercised elsewhere
        if "pk" not in rule.arguments:
            yield rule.rule + ("?q=" + json.dumps({"page_size": 100})
                               if rule.rule.startswith("/api/") else "")
            continue
        if model in SCOPED_ENTITIES:
            pks = [world.records_of(key)[model.__name__] for key in CUSTOMERS]
        else:
            pks = [1]
        for pk in pks:
            url = rule.rule.replace("<int:pk>", str(pk)).replace("<pk>", str(pk))
            if "field" in rule.arguments:
                for field in ("id_number", "mobile", "email", "address", "annual_income"):
                    yield url.replace("<string:field>", field)
            else:
                yield url


@pytest.mark.parametrize("username", sorted(STAFF))
def test_crawl_shows_no_plaintext_and_no_forbidden_deep_profile(app, world, client_as,
                                                                 username):
    secrets = plaintexts(app, world)
    forbidden_deep = [marker for key in CUSTOMERS
                      if key not in DEEP_VISIBLE.get(username, set())
                      for marker in deep_markers(key)]
    client = client_as(username)
    crawled = 0
    for url in urls_for(app, world):
        response = client.get(url)
        body = response.get_data().decode("utf-8-sig", errors="replace")
        crawled += 1
        assert response.status_code != 500, url
        for secret in secrets:
            assert secret not in body, f"{username} {url}: plaintext {secret[:3]}… leaked"
        assert not MOBILE.search(body), f"{username} {url}: a mobile number is unmasked"
        assert not PRC_ID.search(body), f"{username} {url}: an ID number is unmasked"
        for marker in forbidden_deep:
            assert marker not in body, f"{username} {url}: deep-profile value {marker} shown"
        if url.startswith("/auditlog"):
            continue  # the operation log names the customers it is about, masked, by design
        for key in CUSTOMERS:
            if key not in VISIBLE[username]:
                assert f"客户{key}" not in body, f"{username} {url}: sees {key}"
    assert crawled > 40


def test_crawl_detects_a_leak(app, world):
    """The patterns above do find an unmasked value (so the crawl cannot pass vacuously)."""
    assert MOBILE.search("手机 13800130001 ")
    assert PRC_ID.search(make_prc_id(__import__("datetime").date(1990, 1, 1), 5))
    assert not MOBILE.search("138****0001") and not PRC_ID.search("110***********1234")
