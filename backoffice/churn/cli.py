"""`flask crm churn ...`: train a version, activate it, score customers, list versions."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
import json
import sys

import click
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_babel import pgettext


churn_group = AppGroup("churn", help="Churn early warning: models and scoring.")


def _metrics_lines(name: str, metrics: dict) -> str:
    """One line of held-out figures, in the server's language (the CLI has no user: the
    default locale)."""
    return _("%(name)s: ROC-AUC %(roc)s  PR-AUC %(pr)s  Brier %(brier)s  lift in the top "
             "decile %(lift)s  (held out: %(n)s customers, %(left)s left)", name=name,
             roc=f"{metrics['roc_auc']:.3f}", pr=f"{metrics['pr_auc']:.3f}",
             brier=f"{metrics['brier']:.3f}", lift=f"{metrics['lift_top_decile']:.2f}",
             n=metrics["n_test"], left=metrics["positives_test"])


@churn_group.command("train")
@click.option("--target", default=None,
              help="Outcome: a customer field (e.g. Exited, Attrition_Flag, 是否流失); default: "
                   "closed customers left.")
@click.option("--positive", default=None,
              help="The target value meaning the customer left (e.g. 'Attrited Customer', 是, "
                   "1; for a choice field its value or label). Default: yes for a yes/no field, "
                   "1 for a number field. Customers whose target is missing are left out.")
@click.option("--features", multiple=True,
              help="Fields to use besides the built-in features (repeat, or comma-separated); "
                   "default: the fields marked as model features.")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--test-size", default=0.2, show_default=True, type=click.FloatRange(0.05, 0.5))
@click.option("--cv-folds", default=3, show_default=True, type=click.IntRange(2, 10))
def train_command(target, positive, features, seed, test_size, cv_folds):
    """Train and evaluate a new model version on held-out data (it is not activated)."""
    from backoffice.churn import dataset, registry, service, training
    from backoffice.extensions import db

    names = [n for value in features for n in value.split(",") if n.strip()]
    try:
        row, result = service.train_model(db.session, target=target, positive=positive,
                                          features=names or None, seed=seed,
                                          test_size=test_size, cv_folds=cv_folds, log=click.echo)
    except (dataset.FeatureError, training.TrainingError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    for line in report_lines(row.training_config or {}):
        click.echo(line)
    click.echo(_metrics_lines(_("model (gradient boosting, calibrated)"), result.metrics))
    click.echo(_metrics_lines(_("baseline (logistic regression)"), result.baseline_metrics))
    click.echo(f"ROC-AUC {result.metrics['roc_auc']:.3f}")
    click.echo(f"PR-AUC {result.metrics['pr_auc']:.3f}")
    click.echo(f"Brier {result.metrics['brier']:.3f}")
    click.echo(_("lift in the top decile %(lift)s",
                 lift=f"{result.metrics['lift_top_decile']:.2f}"))
    if registry.is_suspicious(row):
        click.echo(_("Warning: a held-out ROC-AUC this high usually means a copy of the target "
                     "among the features; activating this version needs --confirm-suspicious "
                     "with a reason."))
    click.echo(_("stored as version %(version)s (inactive; `flask crm churn activate "
                 "%(version)s` to use it)", version=row.version))


def report_lines(config: dict) -> list[str]:
    """What a trained version used and why: features with their kind, the ones left out with
    the reason, and the labels it learned from (counts of left, stayed and left out)."""
    kinds = config.get("feature_kinds") or []
    lines = [_("Features used (%(n)s):", n=len(kinds))]
    lines += [f"  {item['name']}  {_kind(item['kind'])}  ({item['source']})" for item in kinds]
    excluded = config.get("excluded") or {}
    leaks = config.get("leakage") or {}
    lines.append(_("Features left out (%(n)s):", n=len(excluded)))
    lines += [f"  {column}: {_leak_words(info)}" for column, info in leaks.items()]
    by_reason = {}  # the many constant built-ins of a small bank on one line, not forty
    for column, why in excluded.items():
        if column not in leaks:
            by_reason.setdefault(why, []).append(column)
    lines += [f"  {why}: {', '.join(columns)}" for why, columns in by_reason.items()]
    counts = (config.get("label") or {}).get("counts") or {}
    if counts:
        lines.append(_("Labels: %(pos)s left, %(neg)s stayed, %(missing)s left out (target "
                       "missing)", pos=counts.get("positive", 0), neg=counts.get("negative", 0),
                       missing=counts.get("missing", 0)))
        values = list((counts.get("values") or {}).items())
        lines.append(_("Customers per target value: %(values)s",
                       values=", ".join(f"{k}: {n}" for k, n in values[:12])))
    return lines


def _kind(kind: str) -> str:
    return _("categorical") if kind == "categorical" else _("numeric")


def _leak_words(info: dict) -> str:
    if info.get("reason") == "one_to_one":
        return _("a copy of the target (its values map one-to-one onto the target's)")
    return _("a function of the target (alone it separates leavers from stayers at ROC-AUC "
             "%(auc)s on the training split)", auc=f"{info.get('roc_auc', 0.0):.3f}")


@churn_group.command("activate")
@click.argument("version", type=int)
@click.option("--confirm-suspicious", "confirm_reason", default=None, metavar="REASON",
              help="Activate a version whose held-out ROC-AUC is suspiciously high (at least "
                   "0.999), saying why; the reason goes to the operation log.")
def activate_command(version, confirm_reason):
    """Make VERSION the model used for scoring (logged)."""
    from backoffice.churn import registry
    from backoffice.extensions import db

    try:
        row = registry.activate(db.session, version, confirm_reason=confirm_reason)
    except (registry.NoSuchVersion, registry.ArtifactRefused, registry.SuspiciousModel) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(_("version %(version)s is active", version=row.version))


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
                  description=_l("Churn scoring"))
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
        active = pgettext("model in use", "Active") + " " if row.active else ""
        click.echo(_("v%(version)s %(active)starget=%(target)s ROC-AUC %(roc)s PR-AUC %(pr)s "
                     "Brier %(brier)s lift %(lift)s created %(created)s", version=row.version,
                     active=active, target=row.target, roc=m.get("roc_auc"),
                     pr=m.get("pr_auc"), brier=m.get("brier"), lift=m.get("lift_top_decile"),
                     created=f"{row.created_at:%Y-%m-%d %H:%M}"))
