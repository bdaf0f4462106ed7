"""The public churn dataset through ``flask crm import ... --kind customers --create-fields``.

Guards the issue's first "must be shown": 10,000 customers with 0 rejected rows, every column
that matches no built-in field becoming a custom field (types inferred), and the same command
again changing 0 rows (flagged as a re-upload). Then revert removes exactly what it created.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from backoffice.extensions import db
from backoffice.imports import revert
from models import Customer
from models.fields import CustomFieldDefinition
from models.imports import ImportBatch
from tests.imports.conftest import count

CHURN = Path(__file__).resolve().parents[3] / "shared" / "data" / "bank_churn" / \
    "Churn_Modelling.csv"
EXPECTED_FIELDS = {"row_number": "integer", "credit_score": "integer", "geography": "choice",
                   "age": "integer", "tenure": "integer", "balance": "money",
                   "num_of_products": "integer", "has_cr_card": "boolean",
                   "is_active_member": "boolean", "estimated_salary": "money",
                   "exited": "boolean"}


def run_cli(app, *args) -> dict:
    result = app.test_cli_runner().invoke(args=["crm", "import", *map(str, args)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.mark.skipif(not CHURN.exists(), reason="the churn dataset is not in ../shared/data")
def test_churn_csv_imports_as_10000_customers_and_again_changes_nothing(app, imports):
    existing_keys = set(db.session.scalars(select(CustomFieldDefinition.key).where(
        CustomFieldDefinition.entity == "customer")))
    assert not existing_keys & set(EXPECTED_FIELDS), "another test left churn fields behind"
    before = count(Customer)
    try:
        first = run_cli(app, CHURN, "--kind", "customers", "--create-fields")
        assert (first["created"], first["updated"], first["unchanged"], first["rejected"]) == \
            (10000, 0, 0, 0), first
        assert first["status"] == "committed" and first["error_report"] is None
        assert count(Customer) == before + 10000
        fields = dict(db.session.execute(select(
            CustomFieldDefinition.key, CustomFieldDefinition.field_type).where(
            CustomFieldDefinition.key.in_(EXPECTED_FIELDS))).all())
        assert fields == EXPECTED_FIELDS
        hargrave = db.session.execute(select(Customer).where(
            Customer.customer_no == "15634602").execution_options(crm_unscoped=True)).scalar_one()
        assert (hargrave.name, hargrave.gender) == ("Hargrave", "F")
        assert hargrave.custom_fields["credit_score"] == 619
        assert hargrave.custom_fields["geography"] == "France"
        assert hargrave.custom_fields["estimated_salary"] == "101348.88"
        assert hargrave.custom_fields["exited"] is True
        assert hargrave.id_type == "UNKNOWN" and hargrave.id_number == "UNKNOWN-15634602"

        second = run_cli(app, CHURN, "--kind", "customers", "--create-fields")
        assert (second["created"], second["updated"], second["unchanged"],
                second["rejected"]) == (0, 0, 10000, 0), second
        assert second["duplicate_of"] == first["batch_id"]
        assert count(Customer) == before + 10000

        result = revert.revert(db.session, first["batch_id"])
        assert (result["removed"], result["conflicts"]) == (10000, 0)
        assert count(Customer) == before
        assert db.session.get(ImportBatch, first["batch_id"]).status == "reverted"
    finally:
        db.session.rollback()
        db.session.execute(delete(CustomFieldDefinition).where(
            CustomFieldDefinition.entity == "customer",
            CustomFieldDefinition.key.in_(EXPECTED_FIELDS)))
        db.session.commit()
