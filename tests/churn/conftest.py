"""A small labelled bank for the training screen and version page tests.

Three hundred customers imported the way an operator brings a churn file (``flask crm import
... --kind customers --create-fields``): a score, a region and a 0/1 "left" column whose leavers
follow the score and the region, so a model has something real to learn. Each test module gets
its own import and removes it afterwards (batch reverted, fields, versions and runs deleted), so
the session's shared world stays as other tests expect it.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import numpy as np
import pytest
from sqlalchemy import delete, func, select

ROWS = 300
FIELDS = ("ctrain_score", "ctrain_region", "ctrain_left")


@dataclass
class TrainingBank:
    batch_id: int
    leavers: int
    rows: int = ROWS


def _write_csv(path) -> int:
    rng = np.random.default_rng(5)
    score = rng.uniform(300, 850, ROWS).round()
    region = rng.choice(["north", "south", "east"], ROWS)
    logit = -0.8 - (score - 575) / 70 + np.where(region == "south", 1.2, 0.0)
    left = (rng.uniform(size=ROWS) < 1 / (1 + np.exp(-logit))).astype(int)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["CustomerId", "Surname", "Gender", "CtrainScore", "CtrainRegion",
                         "CtrainLeft"])
        for i in range(ROWS):
            writer.writerow([f"9731{i:04d}", f"Train{i}", "Female" if i % 2 else "Male",
                             int(score[i]), region[i], int(left[i])])
    return int(left.sum())


@pytest.fixture(scope="module")
def training_bank(app, world, tmp_path_factory):
    from backoffice.extensions import db
    from backoffice.imports import revert
    from models import JobRun
    from models.churn import ChurnModel
    from models.fields import CustomFieldDefinition

    path = tmp_path_factory.mktemp("churn-train") / "ctrain.csv"
    leavers = _write_csv(path)
    with app.app_context():
        before_model = db.session.scalar(select(func.max(ChurnModel.id))) or 0
        before_run = db.session.scalar(select(func.max(JobRun.id))) or 0
        db.session.remove()
    outcome = app.test_cli_runner().invoke(
        args=["crm", "import", str(path), "--kind", "customers", "--create-fields"])
    assert outcome.exit_code == 0, outcome.output
    summary = json.loads(outcome.output.strip().splitlines()[-1])
    assert (summary["created"], summary["rejected"]) == (ROWS, 0), summary
    yield TrainingBank(batch_id=summary["batch_id"], leavers=leavers)
    with app.app_context():
        db.session.execute(delete(ChurnModel).where(ChurnModel.id > before_model))
        db.session.execute(delete(JobRun).where(JobRun.id > before_run))
        db.session.commit()
        revert.revert(db.session, summary["batch_id"])
        db.session.execute(delete(CustomFieldDefinition).where(
            CustomFieldDefinition.entity == "customer", CustomFieldDefinition.key.in_(FIELDS)))
        db.session.commit()
        db.session.remove()
