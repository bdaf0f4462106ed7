"""Key rotation reaches the sealed data features keep outside the encrypted columns through the
core's registry (``backoffice.security.key_rotation``): the custom-field values and the stored
import files join ``keys.rotate`` and ``keys.key_status`` once ``create_app`` has registered
them, in that order, and a process that built no app is refused rather than half-rotated.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, select

import models
from backoffice.security import key_rotation, keys
from backoffice.security.field_hooks import NotRegistered
from models import crypto
from models.crypto import KeyRing
from models.imports import ImportFile, open_file, seal_file


@pytest.fixture
def bare(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / f'passes-{uuid.uuid4().hex[:8]}.sqlite3'}")
    models.Model.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _stored_file(engine, ring: KeyRing, data: bytes) -> None:
    """One upload sealed with ``ring`` (SQLite does not enforce the batch's foreign key here)."""
    with engine.begin() as connection:
        connection.execute(ImportFile.__table__.insert().values(
            batch_id=7, role="upload", sha256="0" * 64, size_bytes=len(data),
            content=seal_file(7, "upload", data, ring)))


def test_the_app_registers_custom_values_then_import_files(app):
    assert [p.name for p in key_rotation.passes()] == ["custom_fields", "import_file"]


def test_keys_rotate_re_seals_the_stored_import_files(app, bare):
    old = KeyRing.generate("f1")
    _stored_file(bare, old, b"name,mobile\n")
    new = old.with_key("f2")
    assert keys.key_status(bare, new)["import_file.content"] == {"f1": 1}
    report = keys.rotate(bare, new)
    assert report.rewritten["import_file"] == 1
    assert keys.key_status(bare, new)["import_file.content"] == {"f2": 1}
    with bare.connect() as connection:
        sealed = connection.execute(select(ImportFile.content)).scalar()
    assert open_file(7, "upload", bytes(sealed), new.without("f1")) == b"name,mobile\n"


def test_without_registered_passes_rotation_is_refused_before_any_row(app, bare, monkeypatch):
    old = KeyRing.generate("n1")
    _stored_file(bare, old, b"x")
    monkeypatch.setattr(key_rotation, "_passes", {})
    new = old.with_key("n2")
    with pytest.raises(NotRegistered, match="create_app"):
        keys.rotate(bare, new)
    with pytest.raises(NotRegistered):
        keys.key_status(bare, new)
    with bare.connect() as connection:
        sealed = bytes(connection.execute(select(ImportFile.content)).scalar())
    assert crypto.key_id_of_bytes(sealed[:40]) == "n1"
