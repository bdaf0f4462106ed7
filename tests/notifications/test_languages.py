"""One notification, raised once, read by one member in Chinese and another in English.

The message is stored as its message id and parameters (``backoffice.stored_text``), so it is
translated for each reader; stored translated, one of them would read the other's language.
The message id used here is one the catalogue already translates ("Change request %(id)s").
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l


def test_each_reader_reads_their_own_language(make_staff, logged_in, raise_notice):
    zh_reader, zh_name = make_staff("BranchManager", "B1")
    en_reader, en_name = make_staff("BranchManager", "B1")
    raise_notice([zh_reader, en_reader], "approval_waiting",
                 _l("Change request %(id)s", id=48213))
    chinese = logged_in(zh_name, "zh").get("/notifications/").get_data(as_text=True)
    english = logged_in(en_name, "en").get("/notifications/").get_data(as_text=True)
    assert "变更申请 48213" in chinese and "Change request 48213" not in chinese
    assert "Change request 48213" in english and "变更申请" not in english


def test_the_same_reader_switching_language_reads_the_other(make_staff, logged_in,
                                                             raise_notice):
    reader, name = make_staff("Teller", "B1")
    raise_notice([reader], "rule", _l("Change request %(id)s", id=59321))
    client = logged_in(name, "en")
    assert "Change request 59321" in client.get("/notifications/").get_data(as_text=True)
    client.get("/lang/zh")
    assert "变更申请 59321" in client.get("/notifications/").get_data(as_text=True)
