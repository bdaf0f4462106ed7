"""Churn scoring end to end (features, predict, bands, reasons, write, tasks) in customers/s,
beside bare ``predict_proba`` on the same feature matrix, in the same run.

The synthetic bank comes from the segments benchmark's ``generate_series`` loader (server side,
nothing row by row through Python); a twelfth of the customers are then marked closed so that a
model can be trained (on a sample) and activated before scoring. Timed:

* baseline: ``model.predict_proba`` over the whole feature matrix the run built;
* end to end: ``backoffice.churn.scoring.run`` over every active customer — the features of
  everybody in one set-based pass into a temporary table, read back in chunks, prediction,
  signals and bands, occlusion reasons (customers the model puts at medium risk or above, and
  every P1/P2 customer), one upsert of every score, retention tasks and escalations — committed.

    python benchmarks/churn_scoring.py --customers 1000000 --tx-per-customer 20 \
        --database-url postgresql://postgres@127.0.0.1:5432/crm_h7_bench

The database's public schema is emptied first (unless ``--reuse``). Goal: 20,000 customers/s
end to end at 1,000,000 customers.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._safety import database_url  # noqa: E402 - after the path is set
from benchmarks.segments_refresh import TODAY, build_app, load  # noqa: E402 - same bank

AS_OF = dt.datetime.combine(TODAY, dt.time(0, 0))


def mark_leavers(app) -> None:
    """Every twelfth customer closed a month or two ago, with its accounts emptied."""
    from sqlalchemy import text

    from backoffice.extensions import db

    with app.app_context():
        db.session.execute(text(
            "UPDATE customer SET status = 'closed', closed_on = CAST(:today AS date) - "
            "(30 + id % 60) WHERE id % 12 = 0"), {"today": TODAY})
        db.session.execute(text("ANALYZE customer"))
        db.session.commit()


def train_and_activate(app, sample: int) -> dict:
    from backoffice.churn import registry, service
    from backoffice.extensions import db

    with app.app_context():
        started = time.perf_counter()
        row, result = service.train_model(db.session, as_of=AS_OF, sample=sample, cv_folds=2,
                                          log=lambda line: print("  train:", line, flush=True))
        registry.activate(db.session, row.version)
        db.session.commit()
        return {"seconds": time.perf_counter() - started, "metrics": result.metrics}


def measure(app, chunk: int, reasons_for: str) -> dict:
    import pandas as pd

    from backoffice.churn import registry
    from backoffice.extensions import db
    from backoffice.churn import scoring

    with app.app_context():
        timings, inputs = {}, []
        started = time.perf_counter()
        summary = scoring.run(db.session, as_of=AS_OF, chunk=chunk, reasons_for=reasons_for,
                              timings=timings, keep_inputs=inputs)
        db.session.commit()
        end_to_end = time.perf_counter() - started
        model = registry.load(db.session, registry.active(db.session).id).model
        matrix = pd.concat(inputs)
        started = time.perf_counter()
        model.predict_proba(matrix)
        bare = time.perf_counter() - started
    return {"summary": summary, "end_to_end": end_to_end, "bare": bare, "rows": len(matrix),
            "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100000)
    parser.add_argument("--tx-per-customer", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=100000)
    parser.add_argument("--train-sample", type=int, default=20000)
    parser.add_argument("--reasons", default="elevated", choices=["elevated", "all", "none"])
    parser.add_argument("--reuse", action="store_true",
                        help="Keep the data (and model) loaded by an earlier run.")
    parser.add_argument("--load-only", action="store_true",
                        help="Load the bank and train the model, then stop (time with --reuse).")
    parser.add_argument("--database-url", help="a scratch PostgreSQL database "
                        "(or CRM_BENCH_DATABASE_URL); one holding customers is refused")
    args = parser.parse_args()
    args.database_url = database_url(args.database_url)
    if not args.database_url.startswith("postgresql"):
        parser.error("this benchmark loads with generate_series: PostgreSQL only")
    app = build_app(args.database_url, reuse=args.reuse)
    if not args.reuse:
        transactions = args.customers * args.tx_per_customer
        print(f"loading {args.customers:,} customers, {transactions:,} transactions", flush=True)
        print(f"  loaded in {load(app, args.customers, transactions):.1f} s", flush=True)
        mark_leavers(app)
        trained = train_and_activate(app, args.train_sample)
        print(f"  trained on {args.train_sample:,} customers in {trained['seconds']:.1f} s "
              f"(ROC-AUC {trained['metrics']['roc_auc']}: synthetic data, no real signal)")
    if args.load_only:
        return
    result = measure(app, args.chunk, args.reasons)
    n = result["summary"]["customers"]
    print(f"customers scored:           {n:,} (chunk {args.chunk:,}, reasons: {args.reasons})")
    print(f"end to end:                 {result['end_to_end']:8.1f} s  "
          f"{n / result['end_to_end']:10,.0f} customers/s")
    print(f"baseline bare predict_proba:{result['bare']:8.1f} s  "
          f"{result['rows'] / result['bare']:10,.0f} customers/s (same {result['rows']:,}-row "
          "matrix)")
    print("stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings"].items()))
    print(f"load average (1, 5, 15 min) after the run: "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"tiers: {result['summary']['tiers']}; tasks created "
          f"{result['summary']['tasks_created']:,}; PSI {result['summary']['psi']}")


if __name__ == "__main__":
    main()
