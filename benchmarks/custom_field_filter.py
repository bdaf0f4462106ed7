"""Customer list filtered by a custom field vs the same filter on a built-in indexed column.

Builds its own PostgreSQL database (created if missing, schema by the Alembic migrations),
bulk-loads N customers (COPY) carrying 5 custom fields, and then times the customer list's data
query (``CrmInterface.query``: capped count + first page of 25 ordered by customer number, as the
list screen runs it) with, in the same run:

- equals: custom choice field ``cf_segment`` = 'wealth'  vs  built-in ``tier`` = 'wealth'
  (indexed; both columns hold the same value per customer, so the selectivity is identical);
- range: custom date field ``cf_since`` between two dates vs built-in ``onboarded_on`` (indexed)
  between the same dates (again the same values). The custom range is timed three ways: the
  former compilation (ISO text compared, no index), the typed expression without its index, and
  with the per-field expression index ``service.sync_range_index`` creates when an admin saves a
  range field (the benchmark's loader writes definitions directly, so it calls that itself).

Usage:

    python benchmarks/custom_field_filter.py --customers 100000 \
        --database-url postgresql://postgres@127.0.0.1:5432/crm_h4_bench [--repeat 40] [--reuse]

``--reuse`` keeps a database already loaded by an earlier run with the same ``--customers``
(and rebuilds it otherwise).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TIERS = ("private_banking", "wealth", "affluent", "mass")
TIER_WEIGHTS = (1, 4, 15, 80)
FIELDS = [  # key, type, choices
    ("cf_points", "integer", []),
    ("cf_segment", "choice", [{"value": t, "label_zh": t, "label_en": t, "order": n}
                              for n, t in enumerate(TIERS)]),
    ("cf_region", "text", []),
    ("cf_since", "date", []),
    ("cf_limit", "money", []),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a scratch PostgreSQL database, created if "
                        "missing (or CRM_BENCH_DATABASE_URL); one holding customers is refused")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the loaded database of an earlier run of the same size")
    args = parser.parse_args(argv)
    from benchmarks._safety import database_url

    args.database_url = database_url(args.database_url)
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql:// URL")
    return args


def ensure_database(url: str) -> None:
    """Create the benchmark's database if it does not exist, and empty its public schema."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from benchmarks._safety import refuse_unless_disposable, reset_public_schema

    refuse_unless_disposable(url)  # refused before anything is created or dropped

    target = make_url(url)
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": target.database}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()
    reset_public_schema(url)


def make_app(url: str):
    import os
    import tempfile

    from backoffice import create_app
    from models.crypto import KeyRing

    os.environ.setdefault("CRM_INSTANCE_PATH", tempfile.mkdtemp(prefix="crm-bench-"))
    config = {**KeyRing.generate("bench1").to_settings(), "SQLALCHEMY_DATABASE_URI": url,
              "SECRET_KEY": "bench", "TESTING": True, "REDIS_URL": None}
    return create_app(config)


def load(app, count: int, seed: int) -> None:
    """Definitions, a branch and ``count`` customers, by COPY (one transaction)."""
    from backoffice.extensions import db
    from models import Branch
    from models.fields import CustomFieldDefinition

    rng = random.Random(seed)
    branch = Branch(code="BB1", name="基准支行")
    db.session.add(branch)
    for position, (key, kind, choices) in enumerate(FIELDS):
        db.session.add(CustomFieldDefinition(entity="customer", key=key, label_zh=key,
                                             label_en=key, field_type=kind, choices=choices,
                                             position=position, visible_roles=[],
                                             editable_roles=[]))
    db.session.commit()
    start = dt.date(2010, 1, 1)
    buffer = io.StringIO()
    for n in range(count):
        tier = rng.choices(TIERS, TIER_WEIGHTS)[0]
        onboarded = start + dt.timedelta(days=rng.randrange(5500))
        document = {"cf_points": rng.randrange(10_000), "cf_segment": tier,
                    "cf_region": rng.choice(("华东", "华北", "华南", "西部")) + str(n % 97),
                    "cf_since": onboarded.isoformat(),
                    "cf_limit": f"{rng.randrange(1, 10_000_000) / 100:.2f}"}
        fields = [f"B{n:09d}", f"客户{n}", "individual", "PRC_ID", f"{n:032x}",
                  "v1.none.placeholder", f"{n:064x}", str(branch.id), onboarded.isoformat(),
                  "active", tier, json.dumps(document, ensure_ascii=False), "1",
                  "2026-01-01 00:00:00", "2026-01-01 00:00:00", "f", "f", "f", "f", "f", "f",
                  "f"]
        buffer.write("\t".join(fields) + "\n")
    columns = ("customer_no, name, customer_type, id_type, record_uid, id_number_enc, "
               "id_number_bidx, branch_id, onboarded_on, status, tier, custom_fields, version, "
               "created_at, updated_at, consent_sms, consent_email, consent_phone, "
               "consent_wechat, flag_elderly, flag_disability, flag_vip")
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cursor, cursor.copy(
                f"COPY customer ({columns}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE customer"))


def timed(fn, repeat: int) -> tuple[float, float, int]:
    fn()  # warm-up (plans, caches)
    samples = []
    rows = 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], rows


def loaded_size(url: str) -> int | None:
    """How many customers an earlier run left in the database (None: nothing usable)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            fields = conn.execute(text("SELECT count(*) FROM custom_field_definition WHERE "
                                       "key IN ('cf_since', 'cf_segment')")).scalar()
            count = conn.execute(text("SELECT count(*) FROM customer")).scalar()
        return count if fields == 2 else None
    except Exception:  # noqa: BLE001 - no database or no schema yet: build it
        return None
    finally:
        engine.dispose()


def main(argv=None) -> None:
    args = parse_args(argv)
    reuse = args.reuse and loaded_size(args.database_url) == args.customers
    if reuse:
        from benchmarks._safety import claim

        claim(args.database_url)
    else:
        ensure_database(args.database_url)
    app = make_app(args.database_url)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(revision="heads")
        if reuse:
            print(f"reusing {args.customers} loaded customers ({args.database_url})")
        else:
            started = time.perf_counter()
            load(app, args.customers, args.seed)
            print(f"loaded {args.customers} customers with {len(FIELDS)} custom fields in "
                  f"{time.perf_counter() - started:.1f} s ({args.database_url})")

        from backoffice.customers.views import CustomerView
        from backoffice.fields.filters import compile_filter
        from backoffice.fields.registry import field_spec
        from backoffice.fields.screens import _SqlCondition

        view = next(v for v in app.appbuilder.baseviews if isinstance(v, CustomerView))
        datamodel = view.datamodel
        low, high = "2015-01-01", "2015-03-31"

        def list_query(filters):
            def run():
                count, _items = datamodel.query(filters, "customer_no", "asc", page=0,
                                               page_size=25)
                return int(count)
            return run

        def with_condition(condition):
            """The list's filters holding one SQL condition (how the list applies both)."""
            filters = datamodel.get_filters([])
            filters.filters.append(_SqlCondition("id", datamodel))
            filters.values.append(condition)
            return filters

        def custom(key, op, value):
            return with_condition(compile_filter(field_spec("customer", key), op, value))

        from backoffice.extensions import db
        from backoffice.fields import service
        from models import Customer

        since = field_spec("customer", "cf_since")
        former = Customer.custom_fields["cf_since"].as_string()  # how it compiled before
        built_in = with_condition(Customer.onboarded_on.between(dt.date(2015, 1, 1),
                                                                dt.date(2015, 3, 31)))

        limit = field_spec("customer", "cf_limit")

        def set_index(present: bool) -> None:
            """The admin screen's index step (or its undoing, for the "before" figure)."""
            for spec in (since, limit):
                service.sync_range_index(spec if present else replace(spec, active=False))
            db.session.commit()
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE customer"))

        def run(label, filters):
            p50, p95, count = timed(list_query(filters), args.repeat)
            print(f"  {label:<58} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({count} matches)")

        print(f"customer list query (capped count + page of 25), {args.repeat} runs each")
        run("equals: custom choice cf_segment = wealth", custom("cf_segment", "eq", "wealth"))
        run("equals: built-in indexed tier = wealth", with_condition(Customer.tier == "wealth"))
        set_index(False)
        run("range: custom date, former text compare (no index)",
            with_condition(former.between(low, high)))
        run("range: custom date, index expression, no index",
            custom("cf_since", "between", [low, high]))
        run("range: custom money cf_limit, no index",
            custom("cf_limit", "between", ["1000", "2000"]))
        set_index(True)
        run("range: custom date, index expression + its index",
            custom("cf_since", "between", [low, high]))
        run("range: custom money cf_limit + its index",
            custom("cf_limit", "between", ["1000", "2000"]))
        run("range: built-in indexed onboarded_on (baseline)", built_in)
        plan = db.session.execute(text("EXPLAIN " + str(
            select(func.count()).select_from(Customer).where(
                compile_filter(since, "between", [low, high])).compile(
                    dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})))
        ).scalars().all()
        print("  plan of the indexed custom range count: " + " / ".join(
            line.strip() for line in plan[:3]))


if __name__ == "__main__":
    main()
