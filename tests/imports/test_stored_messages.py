"""A batch's message is read later in the reader's language, whoever wrote it and in which.

The message of a reverted, cancelled or rejected batch is written by a job (no request: the
default language) or in one user's request; an English reader of the batch page must read it in
English and a Chinese reader in Chinese. Messages are stored as message ids and parameters
(``backoffice.stored_text``); text stored before is shown as it is.
"""
from __future__ import annotations

import datetime as dt

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from backoffice import stored_text
from backoffice.extensions import db
from backoffice.imports import revert
from models.imports import ImportBatch
from tests.imports.conftest import commit, csv_bytes
from tests.support.world import make_prc_id

HEADER = ["客户号", "姓名", "手机号", "身份证号", "职业"]


def test_kept_messages_are_shown_in_each_language(app):
    stored = stored_text.keep(
        _l("Interrupted: %(reason)s. %(kept)s Resume it, or abandon it.",
           reason=_l("no reason recorded"), kept=_l("Nothing of it was written.")),
        stored_text.joined(", ", [_l("row %(row)s: %(reason)s", row=5,
                                     reason=_l("edited since"))], "…"))
    assert "Interrupted" in stored and "中断" not in stored  # stored in no language
    with app.test_request_context():
        with force_locale("en"):
            english = stored_text.show(stored)
        with force_locale("zh"):
            chinese = stored_text.show(stored)
    assert english == ("Interrupted: no reason recorded. Nothing of it was written. Resume it, "
                       "or abandon it. row 5: edited since…")
    assert chinese != english and "5" in chinese and "Interrupted" not in chinese
    assert stored_text.show("导入前保存的消息") == "导入前保存的消息"  # stored before: as it is
    assert stored_text.show(None) == ""
    assert stored_text.keep("a plain", "text") == "a plain text"
    assert stored_text.keep(None, "") is None


def test_a_reverted_batch_reads_in_the_readers_language(app, world, cleanup, client_as):
    with app.app_context():
        ids = [make_prc_id(dt.date(1977, 7, 7), 500 + i) for i in range(2)]
        rows = [[f"SMSG{i}", f"消息{i}", "", ids[i], "教师"] for i in range(2)]
        batch_id = commit(csv_bytes(HEADER, rows))["batch_id"]
        revert.revert(db.session, batch_id)  # outside a request, as a job runs it
        stored = db.session.get(ImportBatch, batch_id).message
        db.session.remove()
    assert stored_text.is_kept(stored)
    pages = {}
    for language in ("en", "zh"):
        client = client_as("operator")
        client.get(f"/lang/{language}")
        response = client.get(f"/imports/batch/{batch_id}")
        assert response.status_code == 200
        pages[language] = response.get_data(as_text=True)
        assert stored_text.MARK not in pages[language]
    assert "Reverted: 2 rows removed" in pages["en"]
    assert "Reverted: 2 rows removed" not in pages["zh"]
    with app.test_request_context(), force_locale("zh"):
        assert stored_text.show(stored) in pages["zh"]
