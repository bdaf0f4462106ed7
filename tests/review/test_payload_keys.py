"""Change-request payloads join key rotation: after ``keys.rotate`` every pending request still
opens with the old key retired (a request filed before a rotation is approved after it)."""
from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import models
from backoffice.security import keys
from models import ChangeRequest, crypto
from models.crypto import KeyRing


def test_rotation_re_encrypts_pending_payloads(tmp_path, app):
    """(``app``: building one registers the features' rotation passes, which run here too.)"""
    engine = create_engine(f"sqlite:///{tmp_path / 'payloads.sqlite3'}")
    models.Model.metadata.create_all(engine)
    old = KeyRing.generate("old")
    with crypto.using_keyring(old), Session(engine) as session:
        for n in range(5):
            change = ChangeRequest(kind="update", status="pending", branch_id=1, maker_id=1,
                                   customer_id=n + 1, base_version=1)
            change.values = {"mobile": f"1390000000{n}", "name": f"轮换{n}"}
            session.add(change)
        session.commit()
    new = old.with_key("new")
    report = keys.rotate(engine, new, batch_size=2)
    assert report.rewritten["change_request"] == 5
    with engine.connect() as conn:
        tokens = conn.execute(text("SELECT payload FROM change_request")).scalars().all()
    assert all(token.startswith(new.prefix("new")) for token in tokens)
    retired = new.without("old")
    with crypto.using_keyring(retired), Session(engine) as session:
        values = sorted(c.values["mobile"] for c in session.query(ChangeRequest))
    assert values == [f"1390000000{n}" for n in range(5)]
    engine.dispose()
