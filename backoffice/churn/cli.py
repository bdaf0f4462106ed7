"""`flask crm churn ...`: train a version, activate it, score customers, list versions."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup


churn_group = AppGroup("churn", help="Churn early warning: models and scoring.")


def _metrics_lines(name: str, metrics: dict) -> str:
    return (f"{name}: ROC-AUC {metrics['roc_auc']:.3f}  PR-AUC {metrics['pr_auc']:.3f}  "
            f"Brier {metrics['brier']:.3f}  lift top decile {metrics['lift_top_decile']:.2f}  "
            f"(held out: {metrics['n_test']} customers, {metrics['positives_test']} left)")


@churn_group.command("train")
@click.option("--target", default=None,
              help="Outcome: a customer field holding 1/0 (e.g. Exited); default: closed "
                   "customers left.")
@click.option("--features", multiple=True,
              help="Fields to use besides the built-in features (repeat, or comma-separated); "
                   "default: the fields marked as model features.")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--test-size", default=0.2, show_default=True, type=click.FloatRange(0.05, 0.5))
@click.option("--cv-folds", default=3, show_default=True, type=click.IntRange(2, 10))
def train_command(target, features, seed, test_size, cv_folds):
    """Train and evaluate a new model version on held-out data (it is not activated)."""
    from backoffice.churn import dataset, service, training
    from backoffice.extensions import db

    names = [n for value in features for n in value.split(",") if n.strip()]
    try:
        row, result = service.train_model(db.session, target=target, features=names or None,
                                          seed=seed, test_size=test_size, cv_folds=cv_folds,
                                          log=click.echo)
    except (dataset.FeatureError, training.TrainingError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(_metrics_lines("model (gradient boosting, calibrated)", result.metrics))
    click.echo(_metrics_lines("baseline (logistic regression)", result.baseline_metrics))
    click.echo(f"ROC-AUC {result.metrics['roc_auc']:.3f}")
    click.echo(f"PR-AUC {result.metrics['pr_auc']:.3f}")
    click.echo(f"Brier {result.metrics['brier']:.3f}")
    click.echo(f"lift in top decile {result.metrics['lift_top_decile']:.2f}")
    click.echo(f"stored as version {row.version} (inactive; `flask crm churn activate "
               f"{row.version}` to use it)")


@churn_group.command("activate")
@click.argument("version", type=int)
def activate_command(version):
    """Make VERSION the model used for scoring (logged)."""
    from backoffice.churn import registry
    from backoffice.extensions import db

    try:
        row = registry.activate(db.session, version)
    except (registry.NoSuchVersion, registry.ArtifactRefused) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"version {row.version} is active")


@churn_group.command("score")
@click.option("--chunk", default=50000, show_default=True, type=click.IntRange(100),
              help="Customers predicted and written per step (features are one pass).")
@click.option("--reasons", "reasons_for", default="elevated", show_default=True,
              type=click.Choice(["elevated", "all", "none"]),
              help="Whose top reasons to compute: customers whose risk is not low, all, none.")
def score_command(chunk, reasons_for):
    """Score every active and dormant customer (an RQ job when REDIS_URL is set)."""
    from jobs.queue import enqueue

    run = enqueue("jobs.scoring.score_customers", chunk=chunk, reasons_for=reasons_for,
                  description="churn scoring")
    click.echo(json.dumps({"job_run_id": run.id, "status": run.status, "result": run.result},
                          ensure_ascii=False, default=str))
    if run.status == "failed":
        click.echo(run.error or "", err=True)
        sys.exit(1)


@churn_group.command("models")
def models_command():
    """List model versions with their held-out figures."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from models.churn import ChurnModel

    for row in db.session.execute(select(ChurnModel).order_by(ChurnModel.version)).scalars():
        m = row.metrics or {}
        click.echo(f"v{row.version} {'ACTIVE ' if row.active else ''}target={row.target} "
                   f"ROC-AUC {m.get('roc_auc')} PR-AUC {m.get('pr_auc')} Brier {m.get('brier')} "
                   f"lift {m.get('lift_top_decile')} created {row.created_at:%Y-%m-%d %H:%M}")
