"""Names that users type are escaped everywhere: pages, page titles, flash messages, charts.

Markup-like markers are planted in the name of every kind of record whose name a user types
(segments, campaigns, custom fields and their choices, customers, field sets, greeting and
import templates, occasions, offers, products, branches). Then every GET route of the URL map is
requested as an admin and as a senior manager (routes taking an id with the planted records'
ids), and segments and campaigns are created and edited through their screens with such names,
following the redirect to the page that shows the flash message. The raw marker must never
appear in an HTML response; the escaped form must appear on at least one page per kind of
record, so the test cannot pass by showing nothing (and it failed before the fixes, on the
segment page title and the field-set flash, both built with ``lazy_gettext``).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from markupsafe import escape

from tests.security.test_every_path import CLASSIFIED, NOT_CRAWLED, PK_ENTITY
from tests.support.web import csrf_token

RAW = ("<script>alert(", "<img src=x onerror=")


def marker(kind: str, tag: str) -> str:
    """A name that is markup if shown raw; unique per kind of record."""
    if kind in ("Segment", "Customer", "Product", "Occasion", "ImportTemplate"):
        return f"<script>alert('{kind}{tag}')</script>"
    return f'"><img src=x onerror=alert("{kind}{tag}")>'


@pytest.fixture
def planted(app, world):
    """Records named with markers (new ones deleted, seeded ones renamed back afterwards)."""
    from backoffice.extensions import db
    from models import (Branch, Campaign, Customer, GreetingTemplate, Occasion, Offer,
                        Product, Segment)
    from models.fields import CustomFieldDefinition, FieldSet
    from models.imports import ImportTemplate

    tag = uuid.uuid4().hex[:6]
    names = {}
    renamed = []
    created = []
    with app.app_context():
        session = db.session
        for model, pk, column in ((Branch, world.branches["B2"], "name"),
                                  (Product, world.product_id, "name"),
                                  (Customer, world.customers["c_rm3"], "name")):
            record = session.get(model, pk)
            renamed.append((model, pk, column, getattr(record, column)))
            names[model.__name__] = marker(model.__name__, tag)
            setattr(record, column, names[model.__name__])
        occasion = Occasion(code=f"esc{tag}", name=marker("Occasion", tag), kind="anniversary",
                            lead_days=0, channel_order="email", active=False)
        session.add(occasion)
        session.flush()
        names["Occasion"] = occasion.name
        records = [
            Segment(kind="segment", code=f"esc{tag}", name=marker("Segment", tag),
                    description=marker("Segment", tag), priority=100, active=True,
                    offer_categories=[], rule={"op": "and", "items": []}),
            Campaign(name=marker("Campaign", tag), status="draft",
                     product_id=world.product_id, channels=["phone"]),
            CustomFieldDefinition(entity="customer", key=f"esc_{tag}", field_type="choice",
                                  label_zh=marker("CustomFieldDefinition", tag),
                                  label_en=marker("CustomFieldDefinition", tag),
                                  choices=[{"value": "x", "label_zh": marker("Choice", tag),
                                            "label_en": marker("Choice", tag)}]),
            FieldSet(entity="customer", name=marker("FieldSet", tag), columns=["name"]),
            GreetingTemplate(occasion_id=occasion.id, language="zh",
                             subject=marker("GreetingTemplate", tag),
                             body=marker("GreetingTemplate", tag)),
            Offer(occasion_id=occasion.id, tier="mass", title=marker("Offer", tag),
                  code_prefix="ESC", valid_from=dt.date(2026, 1, 1),
                  valid_until=dt.date(2026, 12, 31)),
            ImportTemplate(kind="customers", name=marker("ImportTemplate", tag), columns={}),
        ]
        session.add_all(records)
        session.commit()
        for record in records:
            names[type(record).__name__] = marker(type(record).__name__, tag)
            created.append((type(record), record.id))
        created.append((Occasion, occasion.id))
        ids = {type(r).__name__: r.id for r in records}
        ids["Occasion"] = occasion.id
        ids.update({"Branch": world.branches["B2"], "Product": world.product_id,
                    "Customer": world.customers["c_rm3"]})
        session.remove()
    yield {"tag": tag, "names": names, "ids": ids}
    with app.app_context():
        session = db.session
        from models import GreetingTemplate, Occasion, Offer

        # Set-based deletes, dependants first (anything made for the occasion during the test
        # too): an ORM delete of the occasion would instead null its templates' occasion_id.
        occasion_id = ids["Occasion"]
        for model in (GreetingTemplate, Offer):
            session.query(model).filter_by(occasion_id=occasion_id).delete(
                synchronize_session=False)
        for model, pk in created:
            session.query(model).filter_by(id=pk).delete(synchronize_session=False)
        assert session.get(Occasion, occasion_id) is None
        for model, pk, column, value in renamed:
            setattr(session.get(model, pk), column, value)
        session.commit()
        from backoffice.fields.registry import invalidate

        invalidate()
        session.remove()


def _model_of(app, endpoint):
    views = {view.endpoint: view for view in app.appbuilder.baseviews}
    view = views.get(endpoint.split(".")[0])
    model = getattr(getattr(view, "datamodel", None), "obj", None)
    return model.__name__ if model is not None else PK_ENTITY.get(endpoint)


def urls(app, ids):
    """Every crawlable GET route: without arguments, or with a planted record's id."""
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or CLASSIFIED.get(rule.endpoint, "config") in NOT_CRAWLED:
            continue
        arguments = set(rule.arguments)
        if not arguments:
            yield rule.rule
        elif arguments == {"pk"}:
            entity = _model_of(app, rule.endpoint)
            if entity in ids:
                yield re.sub(r"<(int:)?pk>", str(ids[entity]), rule.rule)


def raw_markers(body: str, names) -> list[str]:
    return [name for name in names if name in body] + [r for r in RAW if r in body]


@pytest.mark.parametrize("username", ["admin", "senior"])
def test_every_page_escapes_typed_names(app, planted, client_as, username):
    client = client_as(username)
    names = list(planted["names"].values())
    found, shown = [], set()
    for url in urls(app, planted["ids"]):
        response = client.get(url)
        if "html" not in response.headers.get("Content-Type", ""):
            continue
        body = response.get_data(as_text=True)
        found += [f"{url}: {hit}" for hit in raw_markers(body, names)]
        shown |= {kind for kind, name in planted["names"].items() if str(escape(name)) in body}
    assert not found, "\n".join(found[:40])
    # The crawl reached pages that show the names (escaped), so it is not vacuous.
    assert {"Segment", "Campaign", "Product", "Branch"} & shown, shown


def _follow(client, response, names) -> list[str]:
    """The raw markers in a response and the pages it redirects to (where flashes show)."""
    hits = []
    for _hop in range(3):
        if "html" in response.headers.get("Content-Type", ""):
            hits += raw_markers(response.get_data(as_text=True), names)
        if response.status_code not in (301, 302, 303):
            break
        response = client.get(response.headers["Location"])
    return hits


def test_create_and_edit_flash_and_titles_escape_names(app, world, planted, client_as):
    """A segment and a campaign saved through their screens with markup names: the pages
    after the save (flash, show page, title of the edit page) carry the names escaped."""
    from backoffice.extensions import db
    from models import Campaign, Segment

    senior = client_as("senior")
    name = marker("Segment", planted["tag"] + "new")
    token = csrf_token(senior, "/segments/new?kind=segment")
    response = senior.post("/segments/new?kind=segment", data={
        "csrf_token": token, "name": name, "code": f"escnew{planted['tag']}", "active": "y",
        "priority": "100", "rule": json.dumps({"op": "and", "items": []})})
    hits = _follow(senior, response, [name])
    with app.app_context():
        segment = db.session.query(Segment).filter_by(code=f"escnew{planted['tag']}").one()
        pk = segment.id
    try:
        edit = senior.get(f"/segments/edit/{pk}")
        hits += raw_markers(edit.get_data(as_text=True), [name])
        assert str(escape(name)) in edit.get_data(as_text=True)
        token = csrf_token(senior, f"/segments/edit/{pk}")
        response = senior.post(f"/segments/edit/{pk}", data={
            "csrf_token": token, "name": name + "2", "code": f"escnew{planted['tag']}",
            "active": "y", "priority": "100", "rule": json.dumps({"op": "and", "items": []})})
        hits += _follow(senior, response, [name + "2"])
        campaign_name = marker("Campaign", planted["tag"] + "new")
        token = csrf_token(senior, "/campaigns/new")
        response = senior.post("/campaigns/new", data={
            "csrf_token": token, "name": campaign_name, "product_id": str(world.product_id),
            "channels": "phone", "control_share": "0.1", "control_seed": "0"})
        hits += _follow(senior, response, [campaign_name])
    finally:
        with app.app_context():
            db.session.query(Segment).filter_by(id=pk).delete()
            db.session.query(Campaign).filter(Campaign.name.like("%Campaign"
                                                                 + planted["tag"] + "new%")
                                              ).delete(synchronize_session=False)
            db.session.commit()
    assert not hits, hits


def test_lazy_translations_escape_interpolated_names(app):
    """The root cause: a lazy translation with a typed name interpolated was safe markup to
    Jinja and to the session's flash storage."""
    from flask import flash, get_flashed_messages, render_template_string
    from flask_babel import lazy_gettext as _l

    name = '<script>alert("lazy")</script>'
    with app.test_request_context():
        page = render_template_string("{{ title }}", title=_l("Edit %(name)s", name=name))
        assert "<script>" not in page and "&lt;script&gt;" in page
        assert str(_l("Edit %(name)s", name=name)).endswith(name)  # plain text unchanged
        flash(_l("View %(name)s saved.", name=name))
        shown = render_template_string("{% for m in get_flashed_messages() %}{{ m }}{% endfor %}")
        assert "<script>" not in shown
        get_flashed_messages()
