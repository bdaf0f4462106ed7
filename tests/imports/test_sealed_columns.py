"""New customers are sealed a column at a time (``customers_target.seal_new``) and stay columns
down to the COPY: each row's share (``Sealed``) points into its chunk's columns, and a plan
takes the columns of the rows it inserts (``_gather``), whole or picked."""
from __future__ import annotations

from backoffice.imports import writes
from backoffice.imports.customers_target import PLACEHOLDER_ID_TYPE, _gather, seal_new
from backoffice.imports.rows import RowResult
from models import crypto
from models.validators import prc_id_check_digit


def prc_id(serial: int) -> str:
    first17 = f"11010119800101{serial:03d}"
    return first17 + prc_id_check_digit(first17)


def results(prefix: str, count: int) -> list[RowResult]:
    rows = [RowResult(n, values={"customer_no": f"{prefix}{n}", "name": f"封{n}",
                                 "id_number": prc_id(n), "id_type": "PRC_ID",
                                 "mobile": f"1390000{n:04d}"})
            for n in range(1, count + 1)]
    del rows[1].values["id_number"], rows[1].values["id_type"]  # none: the placeholder
    return rows


def test_a_chunk_is_sealed_into_columns_that_open_to_its_values(app):
    with app.app_context():
        keyring = crypto.current_keyring()
        sealed = seal_new(keyring, 7, results("SC", 3))
        columns = sealed[0].columns
        assert all(entry.columns is columns for entry in sealed)
        assert [entry.index for entry in sealed] == [0, 1, 2]
        assert {len(values) for values in columns.values()} == {3}
        assert columns["customer_no"] == ["SC1", "SC2", "SC3"]
        assert columns["name"] == ["封1", "封2", "封3"]
        assert columns["id_type"] == ["PRC_ID", PLACEHOLDER_ID_TYPE, "PRC_ID"]
        assert [entry.id_text for entry in sealed] == [prc_id(1), None, prc_id(3)]
        assert sealed[1].id_digest is None
        assert sealed[0].id_digest == columns["id_number_bidx"][0] == keyring.blind_index(
            "id_number", prc_id(1))
        for index, uid in enumerate(columns["record_uid"]):
            mobile = keyring.decrypt(columns["mobile_enc"][index],
                                     crypto.aad("customer", "mobile", uid))
            assert mobile == f"1390000{index + 1:04d}"
        placeholder = keyring.decrypt(columns["id_number_enc"][1], crypto.aad(
            "customer", "id_number", columns["record_uid"][1]))
        assert placeholder == crypto.normalise("id_number", "UNKNOWN-SC2")


def test_a_plan_takes_the_columns_whole_or_picks_its_rows(app):
    with app.app_context():
        keyring = crypto.current_keyring()
        first = seal_new(keyring, 7, results("GA", 4))
        second = seal_new(keyring, 7, results("GB", 2))
        whole = _gather(first)
        assert whole is not first[0].columns  # the plan adds its own columns to it
        assert all(whole[name] is values for name, values in first[0].columns.items())
        picked = _gather([first[3], first[0], second[1]])
        assert picked["customer_no"] == ["GA4", "GA1", "GB2"]
        assert picked["record_uid"] == [first[0].columns["record_uid"][3],
                                        first[0].columns["record_uid"][0],
                                        second[0].columns["record_uid"][1]]
        assert set(picked) == set(whole)
        rows = writes.rows_of(picked)
        assert [row["customer_no"] for row in rows] == ["GA4", "GA1", "GB2"]
        assert rows[1] == {name: values[0] for name, values in first[0].columns.items()}
