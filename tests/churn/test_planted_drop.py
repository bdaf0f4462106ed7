"""The issue's demonstration on demo data: a planted group halves its transactions.

A demo bank (backoffice.demo; the loader fills only an empty bank, so it lives in a SQLite file
of its own, or on PostgreSQL in a schema of its own in the test database) gets a model trained
on its leavers; then a group of valuable active customers has the last 90 days' transactions cut
to half of the 90 days before. Scoring must flag every one of them with the frequency-drop signal and give each of them exactly one open retention task, also after scoring
twice. Half of the group also complained last week: two signals make their risk high, so they
are P1 (high value × high risk), and their tasks are due in two working days.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.engine import make_url

from tests.conftest import make_test_config
from tests.support import services

TODAY = dt.date(2026, 6, 30)
AS_OF = dt.datetime(2026, 6, 30, 16, 0)  # after the demo's last transactions (local evening)


DEMO_SCHEMA = "churn_planted_demo"


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory):
    """An empty database for the demo bank (the loader fills only an empty bank).

    On PostgreSQL (CRM_TEST_DATABASE_URL) a schema of its own in that database, first on the
    connections' search path, dropped afterwards: the session's shared world in ``public`` is
    neither read nor touched. Otherwise a SQLite file of its own.
    """
    url = services.database_url()
    if not url or not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path_factory.mktemp('churn-demo') / 'demo.sqlite3'}"
        return
    _recreate_schema(url, DEMO_SCHEMA, create=True)
    yield make_url(url).update_query_dict({"options": f"-csearch_path={DEMO_SCHEMA}"}) \
        .render_as_string(hide_password=False)
    _recreate_schema(url, DEMO_SCHEMA, create=False)


def _recreate_schema(url: str, schema: str, *, create: bool) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        if create:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


@pytest.fixture(scope="module")
def demo_app(demo_database):
    from flask_migrate import upgrade

    from backoffice import create_app
    from backoffice.demo import load_demo
    from backoffice.extensions import db
    from backoffice.security.seeding import sync_roles
    from config.roles import ROLES

    app = create_app(make_test_config(demo_database))
    with app.app_context():
        upgrade(revision="heads")
        if demo_database.startswith("postgresql"):  # really in its own schema, not public
            assert db.session.scalar(text("SELECT current_schema()")) == DEMO_SCHEMA
        sync_roles(app.appbuilder, ROLES)
        load_demo(db.session, customers=500, seed=11, today=TODAY)
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # no connection left holding the schema when it is dropped


def plant_halved_activity(session, count=12) -> list[int]:
    """Valuable active customers with steady activity: delete recent transactions until the
    last 90 days hold half as many as the 90 days before."""
    from models import Customer, Transaction
    from models.metrics import total_assets_of

    recent_start = AS_OF - dt.timedelta(days=90)
    prior_start = AS_OF - dt.timedelta(days=180)
    prior = (select(Transaction.customer_id, func.count().label("n"))
             .where(Transaction.occurred_at >= prior_start,
                    Transaction.occurred_at < recent_start)
             .group_by(Transaction.customer_id).subquery())
    candidates = session.execute(
        select(Customer.id, prior.c.n).join(prior, prior.c.customer_id == Customer.id)
        .where(Customer.status == "active", total_assets_of(Customer.id) >= 600000,
               prior.c.n >= 12)
        .order_by(Customer.id).limit(count)).all()
    for customer_id, prior_count in candidates:
        recent = session.execute(
            select(Transaction.id).where(Transaction.customer_id == customer_id,
                                         Transaction.occurred_at >= recent_start)
            .order_by(Transaction.occurred_at)).scalars().all()
        keep = prior_count // 2
        doomed = recent[::2][:max(0, len(recent) - keep)]
        doomed += [i for i in recent if i not in doomed][:max(0, len(recent) - keep - len(doomed))]
        session.execute(delete(Transaction).where(Transaction.id.in_(doomed)))
    session.commit()
    return [c for c, _ in candidates]


def plant_complaints(session, customer_ids) -> None:
    from models import Interaction

    for customer_id in customer_ids:
        session.add(Interaction(customer_id=customer_id, occurred_at=AS_OF - dt.timedelta(days=5),
                                channel="phone", direction="inbound", topic="complaint",
                                summary="投诉：转账手续费", complaint=True, custom_fields={}))
    session.commit()


def test_planted_group_is_flagged_and_p1_gets_exactly_one_task(demo_app):
    from backoffice.churn import registry, scoring, service
    from backoffice.extensions import db
    from models import FollowUp
    from models.churn import ChurnScore

    with demo_app.app_context():
        session = db.session
        planted = plant_halved_activity(session)
        assert len(planted) >= 6
        complained = planted[::2]
        plant_complaints(session, complained)
        row, result = service.train_model(session, as_of=AS_OF, cv_folds=2, log=lambda s: None)
        assert result.metrics["roc_auc"] > 0.7
        registry.activate(session, row.version)
        session.commit()
        for _ in range(2):
            summary = scoring.run(session, as_of=AS_OF, chunk=150)
            session.commit()
        assert summary["tasks_created"] == 0  # the second run adds nothing
        scores = {s.customer_id: s for s in session.execute(
            select(ChurnScore).where(ChurnScore.customer_id.in_(planted))).scalars()}
        assert set(scores) == set(planted)
        for customer_id, score in scores.items():
            assert "frequency_drop" in [s["code"] for s in score.signals], customer_id
            assert score.value_band == "high"
            assert score.warning_tier in ("P1", "P2"), customer_id
        for customer_id in complained:
            assert scores[customer_id].warning_tier == "P1", customer_id
            assert "complaint" in [s["code"] for s in scores[customer_id].signals]
        open_tasks = session.execute(
            select(FollowUp).where(FollowUp.customer_id.in_(planted),
                                   FollowUp.task_type == "retention", FollowUp.status == "open")
        ).scalars().all()
        per_customer = {c: [t for t in open_tasks if t.customer_id == c] for c in planted}
        assert all(len(tasks) == 1 for tasks in per_customer.values()), per_customer
        for customer_id in complained:
            task = per_customer[customer_id][0]
            assert task.assignee_id is not None and task.due_at > AS_OF
            assert task.due_at - AS_OF <= dt.timedelta(days=6)  # 2 working days (+ a weekend)
        # Every P1 or P2 customer of the bank holds exactly one open retention task.
        warned = session.execute(select(ChurnScore.customer_id).where(
            ChurnScore.warning_tier.in_(("P1", "P2")))).scalars().all()
        counts = dict(session.execute(
            select(FollowUp.customer_id, func.count())
            .where(FollowUp.task_type == "retention", FollowUp.status == "open",
                   FollowUp.customer_id.in_(warned))
            .group_by(FollowUp.customer_id)).all())
        assert all(counts.get(c) == 1 for c in warned), counts
        db.session.remove()


def test_scoring_features_in_one_pass_equal_the_per_chunk_queries(demo_app):
    """Scoring stages every customer's aggregates at once and reads them back in chunks
    (``backoffice.churn.staging``); training queries chunk by chunk. Both must describe a
    customer the same way, standard columns and custom fields included, or a model would score
    customers on other numbers than it learnt from."""
    import pandas as pd

    from backoffice.churn import dataset, extract, staging, training
    from backoffice.extensions import db
    from models import Customer

    with demo_app.app_context():
        session = db.session
        snapshot = extract.Snapshot(as_of=AS_OF)
        chosen, _source = dataset.default_selection(session)
        selection = dataset.Selection(custom=chosen.custom,
                                      standard=("flag_vip", "occupation", "branch_id"))
        where = Customer.status.in_(("active", "dormant"))
        staged = staging.stage(session, snapshot, selection, where=where)
        pieces = list(staging.chunks(session, staged, 170))
        lo, hi = session.execute(select(func.min(Customer.id), func.max(Customer.id))).one()
        _rows, direct = dataset.chunk_features(session, snapshot, selection, lo, hi,
                                               where=where)
        staging.drop(session)
        session.rollback()
        assert staged.rows == len(direct) > 300
        assert len(pieces) == -(-len(direct) // 170)
        one_pass = pd.concat([frame for _customers, frame in pieces])
        assert list(one_pass.index) == list(direct.index)
        assert (direct["tx_count_90d"] > 0).mean() > 0.5  # activity, not a frame of zeros
        categorical = selection.categorical
        features = ([c for c in selection.names if c in categorical]
                    + [c for c in selection.names if c not in categorical])
        pd.testing.assert_frame_equal(training.model_input(one_pass, features, categorical),
                                      training.model_input(direct, features, categorical),
                                      check_exact=False, rtol=1e-9, atol=1e-9)
        db.session.remove()
