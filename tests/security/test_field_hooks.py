"""The core asks the fields and review features through hooks they register at start-up.

The policy, masking, redaction and presentation may not import a feature (the import-layer
contract), so custom fields and the review rule reach them through
``backoffice.security.field_hooks``. Guards that every app registers both, that the registered
answers are the features' own, and that a process asking before anything registered is refused
instead of being told that nothing is reviewed or that no custom field exists.
"""
from __future__ import annotations

import pytest

from backoffice.security import field_hooks


def test_an_unregistered_hook_is_refused_not_guessed(monkeypatch):
    monkeypatch.setattr(field_hooks, "_custom_fields", None)
    monkeypatch.setattr(field_hooks, "_review_rule", None)
    with pytest.raises(field_hooks.NotRegistered):
        field_hooks.custom_fields()
    with pytest.raises(field_hooks.NotRegistered):
        field_hooks.is_reviewed(object(), "name")


def test_the_app_registers_the_features_answers(app, world):
    from backoffice.extensions import db
    from backoffice.fields import registry
    from backoffice.review import service
    from models import Staff

    with app.app_context():
        fields = field_hooks.custom_fields()
        assert set(fields.entities) == set(registry.ENTITY_TABLES)
        assert fields.spec("customer", "no_such_field_here") is None
        teller = db.session.get(Staff, world.staff["teller1"])
        bm = db.session.get(Staff, world.staff["bm1"])
        reviewed = service.reviewed_fields()
        assert reviewed, "the shipped configuration reviews some customer fields"
        assert field_hooks.is_reviewed(teller, reviewed[0])  # a maker's change waits
        assert not field_hooks.is_reviewed(bm, reviewed[0])  # a checker writes directly
        assert not field_hooks.is_reviewed(teller, "no_such_field_here")
        db.session.remove()
