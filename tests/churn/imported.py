"""Customers imported from a file built in memory, for training tests, and everything they made
removed afterwards (customers, the fields the import created, model versions trained on them),
so the shared world stays as other tests expect it."""
from __future__ import annotations

import contextlib

from sqlalchemy import delete, func, select

from backoffice.extensions import db
from models import Customer
from models.churn import ChurnModel
from models.fields import CustomFieldDefinition
from tests.imports.conftest import csv_bytes, remove_batches_data


@contextlib.contextmanager
def imported(app, header: list[str], rows: list[list]):
    """In an app context: ``{customer_no: id}`` of the imported rows (fields created)."""
    from backoffice.imports import pipeline, service

    with app.app_context():
        fields_before = set(db.session.scalars(select(CustomFieldDefinition.id)))
        version_before = db.session.scalar(select(func.max(ChurnModel.version))) or 0
        batch, _ = service.upload(db.session, csv_bytes(header, rows), "train.csv", "customers",
                                  create_fields=True)
        outcome = pipeline.commit(db.session, batch.id)
        assert outcome["rejected"] == 0 and outcome["created"] == len(rows), outcome
        numbers = [str(r[0]) for r in rows]
        ids = dict(db.session.execute(select(Customer.customer_no, Customer.id).where(
            Customer.customer_no.in_(numbers)).execution_options(crm_unscoped=True)).all())
        try:
            yield ids
        finally:
            db.session.rollback()
            db.session.execute(delete(ChurnModel).where(ChurnModel.version > version_before))
            db.session.commit()
            remove_batches_data([batch.id])
            db.session.execute(delete(CustomFieldDefinition).where(
                CustomFieldDefinition.id.not_in(fields_before)))
            db.session.commit()
            db.session.remove()


def train_cli(app, *args):
    """``flask crm churn train ...``: (exit code, output)."""
    result = app.test_cli_runner().invoke(args=["crm", "churn", "train", *map(str, args)])
    return result.exit_code, result.output


def captured_training(monkeypatch):
    """What ``training.train`` was given (frame, y, categorical): the labels the model saw."""
    from backoffice.churn import training

    seen = {}
    original = training.train

    def spy(frame, y, categorical, **kwargs):
        seen.update(frame=frame, y=y, categorical=categorical)
        return original(frame, y, categorical, **kwargs)

    monkeypatch.setattr(training, "train", spy)
    return seen
