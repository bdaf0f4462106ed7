"""Churn training time and held-out ROC-AUC on the public Churn_Modelling CSV, through the product,
beside a plain ``HistGradientBoostingClassifier`` fitted on the same split in the same run.

The CSV (``../shared/data/bank_churn/Churn_Modelling.csv``, 10,000 customers) goes in the way an
operator brings it: ``flask crm import FILE --kind customers --create-fields`` into an empty
database (a SQLite file in a temporary folder unless ``--database-url`` is given). Then:

* product: ``backoffice.churn.service.train_model(target="exited")`` — feature extraction from
  the database, the split, the hyperparameter search, calibration, the logistic baseline and the
  held-out figures — timed as a whole, with the part spent in ``training.train`` beside it;
* plain: ``HistGradientBoostingClassifier()`` with its default settings (categories from the
  pandas dtype), fitted on the same training rows and judged on the same held-out rows — once
  with the library's default OpenMP threads, once with the product's ``FIT_THREADS``.

    .venv/bin/python benchmarks/churn_training.py [--csv PATH] [--database-url URL]

Goal: the product's training at most 60 s for 10,000 customers on a 2-core machine, with a
held-out ROC-AUC no worse than before the search was made cheaper.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "bank_churn" / \
    "Churn_Modelling.csv"


def build_app(database_url: str | None):
    os.environ.setdefault("CRM_INSTANCE_PATH", tempfile.mkdtemp(prefix="crm-bench-"))
    from flask_migrate import upgrade

    from backoffice import create_app
    from backoffice.security.seeding import sync_roles
    from config.roles import ROLES
    from benchmarks._safety import claim, reset_public_schema
    from tests.conftest import make_test_config

    if database_url and database_url.startswith("postgresql"):
        reset_public_schema(database_url)
    elif database_url:
        claim(database_url)
    else:
        folder = tempfile.mkdtemp(prefix="crm-bench-churn-")
        database_url = f"sqlite:///{folder}/bench.sqlite3"
    app = create_app(make_test_config(database_url))
    with app.app_context():
        upgrade(revision="heads")
        sync_roles(app.appbuilder, ROLES)
    return app


def import_csv(app, csv: Path) -> float:
    """The CSV as an operator imports it (into one branch: the file names none)."""
    from backoffice.extensions import db
    from models.org import Branch

    with app.app_context():
        db.session.add(Branch(code="BENCH", name="Benchmark branch"))
        db.session.commit()
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(
        args=["crm", "import", str(csv), "--kind", "customers", "--create-fields"])
    if result.exit_code != 0:
        raise SystemExit(f"import failed:\n{result.output}")
    return time.perf_counter() - started


def train_through_product(app, target: str, seed: int) -> dict:
    """``service.train_model`` timed; the frame it trained on is kept for the plain fit."""
    from backoffice.churn import service, training
    from backoffice.extensions import db

    captured, spent = {}, {}
    original = training.train

    def timed_train(frame, y, categorical, **kwargs):
        captured.update(frame=frame, y=y, categorical=categorical, kwargs=kwargs)
        started = time.perf_counter()
        try:
            return original(frame, y, categorical, **kwargs)
        finally:
            spent["train"] = time.perf_counter() - started

    training.train = timed_train  # observe only: the product's own function does the work
    try:
        with app.app_context():
            started = time.perf_counter()
            row, result = service.train_model(db.session, target=target, seed=seed,
                                              log=lambda line: print("  product:", line,
                                                                     flush=True))
            total = time.perf_counter() - started
            db.session.commit()
            version = row.version
    finally:
        training.train = original
    return {"seconds": total, "train_seconds": spent.get("train"), "metrics": result.metrics,
            "baseline": result.baseline_metrics, "chosen": result.config.get("chosen"),
            "search": result.config.get("search"), "features": result.features,
            "version": version, **captured}


def plain_boosting(product: dict, seed: int) -> dict:
    """Default ``HistGradientBoostingClassifier`` on the product's split of the same frame."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from backoffice.churn import training

    frame, y = product["frame"], product["y"]
    known = y.notna().to_numpy()
    frame, y = frame.loc[known], y[known].astype(int).to_numpy()
    data = training.model_input(frame, product["features"],
                                [c for c in product["categorical"] if c in product["features"]])
    for column in data.columns:
        if data[column].dtype == object:
            data[column] = data[column].astype("category")
    test_size = product["kwargs"].get("test_size", 0.2)
    x_train, x_test, y_train, y_test = training.split(data, y, test_size=test_size, seed=seed)
    out = {"n_test": len(y_test), "positives_test": int(np.sum(y_test))}
    for threads in (None, training.FIT_THREADS):  # library default, then as the product fits
        with threadpool_limits(limits=threads, user_api="openmp"):
            started = time.perf_counter()
            model = HistGradientBoostingClassifier(random_state=seed).fit(x_train, y_train)
            seconds = time.perf_counter() - started
        auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
        out[threads or "default"] = {"seconds": seconds, "roc_auc": round(float(auc), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--database-url", default=os.environ.get("CRM_BENCH_DATABASE_URL"),
                        help="PostgreSQL to empty and use (default: a temporary SQLite file); "
                             "one holding customers no benchmark loaded is refused")
    parser.add_argument("--target", default="exited")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if not args.csv.exists():
        raise SystemExit(f"no such file: {args.csv}")
    app = build_app(args.database_url)
    print(f"import: {import_csv(app, args.csv):.1f} s ({args.csv.name})", flush=True)
    product = train_through_product(app, args.target, args.seed)
    plain = plain_boosting(product, args.seed)
    m, b = product["metrics"], product["baseline"]
    print()
    print(f"customers held out: {m['n_test']} ({m['positives_test']} left); cpus: "
          f"{os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    print(f"product  train_model: {product['seconds']:7.1f} s  (training.train "
          f"{product['train_seconds']:.1f} s)  ROC-AUC {m['roc_auc']:.4f}  PR-AUC {m['pr_auc']:.4f}"
          f"  Brier {m['brier']:.4f}  lift {m['lift_top_decile']:.2f}  -> v{product['version']}")
    print(f"           logistic baseline (same run)           ROC-AUC {b['roc_auc']:.4f}")
    for threads, fit in ((k, v) for k, v in plain.items() if isinstance(v, dict)):
        print(f"plain    HistGradientBoostingClassifier() ({threads} threads): "
              f"{fit['seconds']:6.1f} s  ROC-AUC {fit['roc_auc']:.4f}  (same split: "
              f"{plain['n_test']} held out, {plain['positives_test']} left)")
    print(f"chosen: {product['chosen']}")
    if product.get("search"):
        print(f"search: {product['search']}")


if __name__ == "__main__":
    main()
