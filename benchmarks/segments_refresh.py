"""The tier and segment refresh at scale, beside one plain count over the transactions.

Loads a synthetic bank straight into PostgreSQL with ``generate_series`` (server side: nothing
row-by-row through Python; the encrypted columns hold placeholders the refresh never reads),
defines the default tier rules and 10 segments over different metrics, then times in the same
run:

* baseline: ``SELECT count(*) FROM transaction``;
* the whole refresh (``backoffice.segments.refresh.refresh_all``): metrics staging, tiers with
  history, 10 memberships, daily counts — committed, with the time of each stage.

Run 1 after loading is the initial fill (every customer gets a tier and a history row, every
membership is inserted); later runs are the nightly case (diffs only). ``--reuse`` times the
refresh again on the data an earlier run loaded (``--runs 0`` only loads).

    python benchmarks/segments_refresh.py --customers 1000000 --tx-per-customer 20 \
        --database-url postgresql://postgres@127.0.0.1:5432/crm_h6_bench

The database's public schema is emptied first (a database holding customers no benchmark
loaded is refused; there is no default database). Goal: 1,000,000 customers and 20,000,000
transactions refreshed in under 60 s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._safety import database_url  # noqa: E402 - after the path is set

TODAY = dt.date(2026, 11, 15)
PRODUCTS = [("B-DEP", "deposit", "R1"), ("B-TD", "time_deposit", "R1"),
            ("B-WM", "wealth", "R2"), ("B-FUND", "fund", "R4"), ("B-INS", "insurance", "R2"),
            ("B-LOAN", "loan", "R1"), ("B-CARD", "credit_card", "R1")]


def _c(field, op, value):
    return {"field": field, "op": op, "value": value}


SEGMENTS = [
    ("b_corporate", _c("customer.customer_type", "eq", "corporate")),
    ("b_young", _c("metric.age", "lt", 30)),
    ("b_senior", _c("metric.age", "gte", 60)),
    ("b_active_30d", _c("metric.tx_count_30d", "gte", 3)),
    ("b_big_spender", _c("metric.tx_amount_90d", "gte", "20000")),
    ("b_multi_product", _c("metric.products_held", "gte", 2)),
    ("b_dormant", _c("metric.days_since_transaction", "gte", 60)),
    ("b_loyal", _c("metric.tenure", "gte", 10)),
    ("b_avg_balance", _c("metric.avg_balance_3m", "gte", "100000")),
    ("b_unhappy", {"op": "or", "items": [_c("metric.complaints_90d", "gte", 1),
                                         _c("metric.satisfaction_avg", "lte", "2")]}),
]


def build_app(database_url: str, reuse: bool = False):
    os.environ.setdefault("CRM_INSTANCE_PATH", tempfile.mkdtemp(prefix="crm-bench-"))
    from flask_migrate import upgrade

    from backoffice import create_app
    from benchmarks._safety import claim, reset_public_schema
    from tests.conftest import make_test_config

    if reuse:
        claim(database_url)
    else:
        reset_public_schema(database_url)
    app = create_app(make_test_config(database_url))
    if not reuse:
        with app.app_context():
            upgrade(revision="heads")
    return app


LOAD_SQL = [
    # Branches and products.
    """INSERT INTO branch (code, name, city) SELECT 'BB' || g, 'Bench branch ' || g, '北京'
       FROM generate_series(1, 20) g""",
    # Customers: ages 18-85, tenure 0-20 years, mixed risk and consents.
    """INSERT INTO customer (customer_no, name, customer_type, gender, birth_date, id_type,
         record_uid, id_number_enc, id_number_bidx, risk_tolerance, risk_assessed_on,
         consent_sms, consent_email, consent_phone, consent_wechat, flag_elderly, flag_disability,
         flag_vip, branch_id, onboarded_on, status, tier, custom_fields, version, created_at,
         updated_at)
       SELECT 'B' || lpad(g::text, 10, '0'), 'Bench ' || g,
         CASE WHEN g % 10 = 0 THEN 'corporate' ELSE 'individual' END,
         CASE WHEN g % 2 = 0 THEN 'M' ELSE 'F' END,
         CAST(:today AS date) - ((18 * 365) + (floor(random() * (67 * 365))::bigint))::int,
         'PRC_ID',
         md5(g::text), 'bench', md5('id' || g), 'C' || (1 + floor(random() * 5)::bigint),
         CAST(:today AS date) - (floor(random() * 700)::bigint)::int,
         g % 3 = 0, g % 5 = 0, g % 2 = 0, g % 7 = 0, false, false, false,
         1 + floor(random() * 20)::bigint,
         CAST(:today AS date) - (floor(random() * 7300)::bigint)::int,
         'active', NULL, '{}'::jsonb, 1, now(), now()
       FROM generate_series(1, :customers) g""",
    # Two accounts per customer (ids 2c-1 and 2c): a demand deposit and one other product.
    """INSERT INTO account (id, record_uid, account_no_enc, account_no_bidx, customer_id,
         product_id, balance, currency, opened_on, status)
       SELECT a, md5('a' || a), 'bench', md5('acct' || a), (a + 1) / 2,
         CASE WHEN a % 2 = 1 THEN 1 ELSE 2 + floor(random() * 6)::bigint END,
         (CASE WHEN floor(random() * 100)::bigint < 3 THEN floor(random() * 9000000)::bigint
               WHEN floor(random() * 100)::bigint < 20 THEN floor(random() * 900000)::bigint
               ELSE floor(random() * 60000)::bigint END)::numeric(18, 2),
         'CNY', CAST(:today AS date) - (floor(random() * 3000)::bigint)::int,
         CASE WHEN floor(random() * 20)::bigint = 0 THEN 'closed' ELSE 'open' END
       FROM generate_series(1, 2 * :customers) a""",
    """SELECT setval(pg_get_serial_sequence('account', 'id'), 2 * :customers)""",
    # Transactions over the last 200 days.
    """INSERT INTO transaction (account_id, customer_id, occurred_at, amount, direction, channel,
         type)
       SELECT 2 * c - (t % 2), c,
         CAST(:today AS timestamp)
           - floor(random() * (200 * 1440)) * interval '1 minute',
         (1 + floor(random() * 500000)::bigint) / 100.0,
         CASE WHEN floor(random() * 2)::bigint = 0 THEN 'in' ELSE 'out' END, 'mobile',
         CASE floor(random() * 4)::bigint WHEN 0 THEN 'salary' WHEN 1 THEN 'spending'
              WHEN 2 THEN 'transfer_in' ELSE 'transfer_out' END
       FROM (SELECT t, 1 + (t % :customers) AS c FROM generate_series(0, :transactions - 1) t) s""",
    # Interactions: two per customer over the last year.
    """INSERT INTO interaction (customer_id, occurred_at, channel, direction, topic, summary,
         satisfaction, complaint, custom_fields)
       SELECT 1 + (i % :customers),
         CAST(:today AS timestamp) - floor(random() * 365) * interval '1 day',
         'phone', 'inbound',
         CASE WHEN floor(random() * 5)::bigint = 0 THEN 'complaint' ELSE 'inquiry' END, 'bench',
         1 + floor(random() * 5)::bigint, floor(random() * 5)::bigint = 0, '{}'::jsonb
       FROM generate_series(0, 2 * :customers - 1) i""",
]
TX_INDEXES = {"ix_transaction_customer_time": "customer_id, occurred_at",
              "ix_transaction_account_time": "account_id, occurred_at",
              "ix_transaction_time": "occurred_at"}


def load(app, customers: int, transactions: int) -> float:
    from sqlalchemy import text

    from backoffice.extensions import db

    started = time.perf_counter()
    with app.app_context():
        conn = db.session.connection()
        # Bulk load: reproducible randomness, no per-row foreign-key triggers, and the
        # transaction indexes built once afterwards instead of row by row.
        conn.execute(text("SELECT setseed(0.42)"))
        conn.execute(text("SET session_replication_role = replica"))
        for name in TX_INDEXES:
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        for code, category, risk in PRODUCTS:
            conn.execute(text("INSERT INTO product (code, name, category, risk_level, active) "
                              "VALUES (:c, :c, :cat, :r, true)"),
                         {"c": code, "cat": category, "r": risk})
        params = {"customers": customers, "transactions": transactions, "today": TODAY}
        for statement in LOAD_SQL:
            step = time.perf_counter()
            conn.execute(text(statement), params)
            print(f"  load: {statement.split()[2]:<12} {time.perf_counter() - step:7.1f} s",
                  flush=True)
        for name, columns in TX_INDEXES.items():
            step = time.perf_counter()
            conn.execute(text(f'CREATE INDEX {name} ON "transaction" ({columns})'))
            print(f"  index: {name:<32} {time.perf_counter() - step:7.1f} s", flush=True)
        conn.execute(text("SET session_replication_role = DEFAULT"))
        db.session.commit()
        conn = db.session.connection()
        conn.execute(text("ANALYZE"))
        db.session.commit()
    return time.perf_counter() - started


def define_segments(app) -> None:
    """The default tier rules stay; the seeded needs and segments make way for the 10 here."""
    from sqlalchemy import update

    from backoffice.extensions import db
    from models import Segment

    with app.app_context():
        db.session.execute(update(Segment).where(Segment.kind != "tier").values(active=False))
        for code, condition in SEGMENTS:
            rule = condition if "items" in condition else {"op": "and", "items": [condition]}
            db.session.add(Segment(code=code, name=code, kind="segment", rule=rule,
                                   active=True, offer_categories=[]))
        db.session.commit()


class Stages:
    """A progress object for ``refresh_all`` that times each stage it reports."""

    def __init__(self):
        self.marks: list[tuple[str, float]] = []

    def update(self, done, total=None, message=None):
        self.marks.append((message or "", time.perf_counter()))

    def durations(self, end: float) -> list[tuple[str, float]]:
        ends = [t for _, t in self.marks[1:]] + [end]
        return [(message, stop - start) for (message, start), stop in zip(self.marks, ends)]


def measure(app) -> dict:
    from sqlalchemy import text

    from backoffice.extensions import db
    from backoffice.segments.catalog import rule_fields
    from backoffice.segments.refresh import refresh_all

    with app.app_context():
        started = time.perf_counter()
        count = db.session.execute(text('SELECT count(*) FROM "transaction"')).scalar()
        baseline = time.perf_counter() - started
        db.session.commit()
        stages = Stages()
        started = time.perf_counter()
        stages.marks.append(("reading the rules", started))
        result = refresh_all(db.session, rule_fields(session=db.session), today=TODAY,
                             progress=stages)
        stages.marks.append(("commit", time.perf_counter()))
        db.session.commit()
        ended = time.perf_counter()
        refresh = ended - started
    return {"transactions": count, "baseline": baseline, "refresh": refresh, "result": result,
            "stages": stages.durations(ended)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100000)
    parser.add_argument("--tx-per-customer", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2,
                        help="Refreshes to time: the first one after loading changes every "
                             "tier and fills every segment; later ones are the nightly case.")
    parser.add_argument("--reuse", action="store_true",
                        help="Keep the data loaded by an earlier run (same sizes).")
    parser.add_argument("--database-url", help="a scratch PostgreSQL database "
                        "(or CRM_BENCH_DATABASE_URL); one holding customers is refused")
    args = parser.parse_args()
    args.database_url = database_url(args.database_url)
    if not args.database_url.startswith("postgresql"):
        parser.error("this benchmark loads with generate_series: PostgreSQL only")
    transactions = args.customers * args.tx_per_customer
    app = build_app(args.database_url, reuse=args.reuse)
    if not args.reuse:
        print(f"loading {args.customers:,} customers, {2 * args.customers:,} accounts, "
              f"{transactions:,} transactions, {2 * args.customers:,} interactions", flush=True)
        loaded = load(app, args.customers, transactions)
        print(f"loaded in {loaded:.1f} s", flush=True)
        define_segments(app)
    for run in range(1, args.runs + 1):
        figures = measure(app)
        result = figures["result"]
        print(f"run {run}: baseline  SELECT count(*) FROM transaction "
              f"({figures['transactions']:,} rows): {figures['baseline']:.2f} s "
              f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
        print(f"run {run}: refresh   4 tier rules + {len(result['segments'])} segments "
              f"({len(result['metrics'])} metrics staged): {figures['refresh']:.2f} s "
              f"({figures['refresh'] / max(figures['baseline'], 1e-9):.1f}× the count); "
              f"tier changes {result['tier_changes']:,}", flush=True)
        memberships = [(m, d) for m, d in figures["stages"] if m.startswith("refreshing ")]
        for message, seconds in figures["stages"]:
            if not message.startswith("refreshing "):
                print(f"        {message:<45} {seconds:7.2f} s")
            elif message == memberships[0][0]:
                print(f"        {'memberships (' + str(len(memberships)) + ' rules, diffs)':<45} "
                      f"{sum(d for _, d in memberships):7.2f} s")
    if args.runs:
        print(f"tiers: {result['tiers']}")
        print("segments: " + ", ".join(f"{k}={v:,}" for k, v in result["segments"].items()))


if __name__ == "__main__":
    main()
