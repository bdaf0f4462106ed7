"""Scratch customers for custom-field tests: inserted directly, removed after the test.

They carry placeholder ciphertext (never opened) and exist only for the duration of one test,
so the shared seeded bank the other tests count on is left as it was.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select


@pytest.fixture
def scratch_customers(app, world):
    from backoffice.extensions import db
    from models import Customer

    table = Customer.__table__
    prefix = f"CF{uuid.uuid4().hex[:8]}"

    def make(documents) -> list[int]:
        rows = [{"customer_no": f"{prefix}{n:08d}", "name": "字段测试", "status": "closed",
                 "id_number_enc": "v1.none.placeholder", "id_number_bidx": "0" * 64,
                 "branch_id": world.branches["B1"], "custom_fields": doc}
                for n, doc in enumerate(documents)]
        with db.engine.begin() as connection:
            connection.execute(table.insert(), rows)
            ids = connection.execute(select(table.c.id).where(
                table.c.customer_no.startswith(prefix)).order_by(table.c.id)).scalars().all()
        return list(ids)

    yield make
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            connection.execute(table.delete().where(table.c.customer_no.startswith(prefix)))


@pytest.fixture
def definitions(app):
    """Persisted definitions made by a test, deleted afterwards (tests only; screens never do)."""
    from backoffice.extensions import db
    from models.fields import CustomFieldDefinition

    made: list[int] = []

    def make(**attrs) -> CustomFieldDefinition:
        attrs.setdefault("label_zh", attrs["key"])
        attrs.setdefault("label_en", attrs["key"])
        attrs.setdefault("entity", "customer")
        definition = CustomFieldDefinition(**attrs)
        db.session.add(definition)
        db.session.commit()
        made.append(definition.id)
        return definition

    yield make
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            table = CustomFieldDefinition.__table__
            connection.execute(table.delete().where(table.c.id.in_(made)))


def unique_key(stem: str) -> str:
    return f"{stem}_{uuid.uuid4().hex[:6]}"
