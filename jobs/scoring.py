"""The RQ entry point of churn scoring (nightly, ``flask crm churn score``, the dashboard's
button): it reads the job's arguments, runs the pipeline of ``backoffice.churn.scoring`` and
commits. The pipeline itself lives in the churn room."""
from __future__ import annotations

import datetime as dt

from backoffice.churn.scoring import DEFAULT_CHUNK, run
from backoffice.extensions import db
from models.base import utcnow


def score_customers(*, progress, chunk: int = DEFAULT_CHUNK, as_of: str | None = None,
                    reasons_for: str = "elevated") -> dict:
    """The RQ job: score every active or dormant customer; returns counts per tier."""
    moment = dt.datetime.fromisoformat(as_of) if as_of else utcnow()
    result = run(db.session, as_of=moment, chunk=chunk, reasons_for=reasons_for,
                 progress=progress)
    db.session.commit()
    return result
