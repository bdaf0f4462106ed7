"""Churn screens: warnings by tier, the dashboard, the model registry and the signal settings.

Warnings and the dashboard read ``churn_score`` through the ORM, so the record scope applies
below the view (relationship managers see their own customers, branch managers their branch).
The registry shows figures about models, never customer data.
"""
from __future__ import annotations


from flask import abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from backoffice.security.current import not_found_if_denied
from backoffice import charts, stored_text
from backoffice.churn import dataset, registry, training, training_form, versions, words
from backoffice.churn.rules import BANDS
from backoffice.datamodel import CrmInterface
from backoffice.extensions import db
from backoffice.formatting import local_time
from backoffice.views_base import CrmModelView
from models import Customer, FollowUp, JobRun
from models.choices import JOB_STATUSES
from models.churn import (WARNING_TIERS, ChurnModel, ChurnScore, ChurnSetting,
                          ChurnSignalRule)

PAGE_SIZE = 50


def _catalog():
    from backoffice.fields.registry import catalog_by_key

    return catalog_by_key("customer")


class ChurnWarningView(BaseView):
    """``/churn/warnings/`` and ``/churn/dashboard/`` for the customers in the user's scope."""

    route_base = "/churn"
    class_permission_name = "ChurnWarning"
    method_permission_name = {"warnings": "read", "dashboard": "read", "score_now": "write"}
    default_view = "warnings"

    @expose("/warnings/")
    @has_access
    def warnings(self):
        tier = request.args.get("tier") or None
        if tier is not None and tier not in WARNING_TIERS:
            tier = None
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        query = select(ChurnScore).join(Customer, Customer.id == ChurnScore.customer_id)
        if tier:
            query = query.where(ChurnScore.warning_tier == tier)
        else:
            query = query.where(ChurnScore.warning_tier.in_(("P1", "P2", "P3")))
        count = db.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = db.session.execute(
            query.order_by(ChurnScore.warning_tier, ChurnScore.probability.desc().nulls_last(),
                           ChurnScore.customer_id)
            .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).scalars().all()
        open_tasks = self._open_retention_tasks([row.customer_id for row in rows])
        catalog = _catalog()
        items = [{
            "score": row, "customer": row.customer,
            "reasons": [words.reason_text(r, catalog) for r in row.reasons or []],
            "signals": [words.signal_text(s) for s in row.signals or []],
            "trend": _trend(row), "task": open_tasks.get(row.customer_id),
        } for row in rows]
        return self.render_template(
            "churn/warnings.html", title=_l("Churn warnings"), items=items, tier=tier,
            tiers=WARNING_TIERS, tier_labels=words.TIER_LABELS, band_labels=words.BAND_LABELS,
            page=page, pages=max(1, -(-count // PAGE_SIZE)), count=count)

    @staticmethod
    def _open_retention_tasks(customer_ids):
        if not customer_ids:
            return {}
        tasks = db.session.execute(
            select(FollowUp).where(FollowUp.customer_id.in_(customer_ids),
                                   FollowUp.task_type == "retention",
                                   FollowUp.status == "open")).scalars()
        return {task.customer_id: task for task in tasks}

    @expose("/dashboard/")
    @has_access
    def dashboard(self):
        by_risk = dict(db.session.execute(
            select(ChurnScore.risk_band, func.count()).group_by(ChurnScore.risk_band)).all())
        matrix = {(r, v): n for r, v, n in db.session.execute(
            select(ChurnScore.risk_band, ChurnScore.value_band, func.count())
            .group_by(ChurnScore.risk_band, ChurnScore.value_band)).all()}
        by_tier = dict(db.session.execute(
            select(ChurnScore.warning_tier, func.count()).group_by(ChurnScore.warning_tier)).all())
        bands = list(reversed(BANDS))  # high first
        tier_link = [url_for("ChurnWarningView.warnings", tier=t) for t in WARNING_TIERS]
        figures = {
            "risk": charts.bar([str(words.BAND_LABELS[b]) for b in bands],
                               [by_risk.get(b, 0) for b in bands],
                               title=_("Customers by churn risk")),
            "tiers": charts.bar(list(WARNING_TIERS), [by_tier.get(t, 0) for t in WARNING_TIERS],
                                links=tier_link, title=_("Customers by warning tier")),
            "matrix": charts.heatmap(
                [str(words.BAND_LABELS[b]) for b in bands],
                [str(words.BAND_LABELS[b]) for b in bands],
                [[matrix.get((r, v), 0) for v in bands] for r in bands],
                title=_("Value (columns) × risk (rows)")),
        }
        drift = self._drift()
        if drift is not None:
            labels = [f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(drift["edges"], drift["edges"][1:])]
            figures["drift"] = charts.bar_groups(
                labels, {_("At training"): drift["reference"], _("Now"): drift["current"]},
                title=_("Score distribution: now against training"))
        return self.render_template("churn/dashboard.html", title=_l("Churn dashboard"),
                                    figures=figures, drift=drift,
                                    total=sum(by_tier.values()))

    @staticmethod
    def _drift():
        """PSI of the active model's current scores (in scope) against its held-out scores."""
        model = registry.active(db.session)
        if model is None or not (model.reference_scores or {}).get("edges"):
            return None
        edges = model.reference_scores["edges"]
        bins = case(*[(ChurnScore.probability < edge, i) for i, edge in enumerate(edges[1:-1])],
                    else_=len(edges) - 2)
        counts = dict(db.session.execute(
            select(bins, func.count()).where(ChurnScore.model_id == model.id,
                                             ChurnScore.probability.is_not(None))
            .group_by(bins)).all())
        total = sum(counts.values())
        if not total:
            return None
        current = [counts.get(i, 0) / total for i in range(len(edges) - 1)]
        reference = list(model.reference_scores["shares"])
        return {"version": model.version, "edges": edges, "reference": reference,
                "current": current, "psi": training.psi_of_shares(reference, current),
                "scored": total}

    @expose("/score", methods=["POST"])
    @has_access
    def score_now(self):
        from jobs.queue import enqueue

        user = self.appbuilder.sm.current_user
        run = enqueue("jobs.scoring.score_customers", requested_by_id=user.id,
                      description=_l("Churn scoring"))
        flash(_("Churn scoring started (job %(id)s).", id=run.id), "info")
        return redirect(url_for("ChurnWarningView.dashboard"))


def customer_warning(customer):
    """Jinja global for the 360 page: the customer's latest score in words and the open
    retention task, so a relationship manager opening a warned customer sees why at once.

    None for users without churn warnings (tellers see the 360 page, not churn) and for
    customers never scored. Read through the ORM: the record scope applies as on the list.
    """
    from flask import current_app

    from backoffice.security.permissions import has_permission

    user = current_app.appbuilder.sm.current_user
    if customer is None or not has_permission(user, "can_read", "ChurnWarning"):
        return None
    from backoffice.churn.customer_panel import latest_score

    score = latest_score(customer)
    if score is None:
        return None
    catalog = _catalog()
    return {"score": score,
            "reasons": [words.reason_text(r, catalog) for r in score.reasons or []],
            "signals": [words.signal_text(s) for s in score.signals or []],
            "task": ChurnWarningView._open_retention_tasks([customer.id]).get(customer.id),
            "tier_labels": words.TIER_LABELS, "band_labels": words.BAND_LABELS}


def _trend(score) -> float | None:
    if score.probability is None or score.previous_probability is None:
        return None
    return score.probability - score.previous_probability


class ChurnModelRegistryView(BaseView):
    """``/churn/models/``: versions, their held-out figures, activation and model features."""

    route_base = "/churn/models"
    class_permission_name = "ChurnModel"
    # Training writes a new version, so it needs the same permission as activating one.
    method_permission_name = {"versions": "read", "version": "read", "activate": "activate",
                              "features": "read", "save_features": "activate",
                              "train_form": "activate", "train": "activate",
                              "training_run": "activate", "training_progress": "activate"}
    default_view = "versions"

    @expose("/")
    @has_access
    def versions(self):
        rows = db.session.execute(select(ChurnModel).order_by(ChurnModel.version.desc())
                                  ).scalars().all()
        return self.render_template("churn/models.html", title=_l("Churn models"), rows=rows)

    @expose("/<int:pk>")
    @not_found_if_denied
    @has_access
    def version(self, pk):
        row = db.session.get(ChurnModel, pk)
        if row is None:
            abort(404)
        used, dropped = versions.feature_lists(row, _catalog())
        return self.render_template("churn/model.html", title=_l("Churn model v%(v)s",
                                                                  v=row.version), row=row,
                                    local_time=local_time, used=used, dropped=dropped,
                                    label_text=versions.label_text(row),
                                    data_range=(row.training_config or {}).get("data_range"),
                                    figures=versions.figures(row))

    @expose("/train")
    @has_access
    def train_form(self):
        return self._train_page(training_form.TrainingChoices())

    @expose("/train", methods=["POST"])
    @has_access
    def train(self):
        """Validate the choices (every problem named), then enqueue the training job."""
        from backoffice.audit.log import record
        from jobs.queue import enqueue

        choices = training_form.read(request.form)
        problems = training_form.validate(db.session, choices)
        if problems:
            record("churn_model_train", entity="ChurnModel",
                   detail={**choices.as_detail(), "refused": problems})
            db.session.commit()
            for problem in problems:
                flash(problem, "danger")
            return self._train_page(choices), 400
        user = self.appbuilder.sm.current_user
        run = enqueue(training_form.JOB_NAME, requested_by_id=user.id,
                      description=_l("Churn model training"), **choices.job_kwargs(user.id))
        return redirect(url_for("ChurnModelRegistryView.training_run", pk=run.id))

    def _train_page(self, choices):
        runs = db.session.execute(select(JobRun).where(JobRun.name == training_form.JOB_NAME)
                                  .order_by(JobRun.id.desc()).limit(10)).scalars().all()
        return self.render_template(
            "churn/train.html", title=_l("Train a churn model"), choices=choices,
            targets=training_form.target_choices(_catalog()),
            features=training_form.feature_choices(_catalog()), runs=runs,
            local_time=local_time, status_labels=JOB_STATUSES)

    @expose("/train/<int:pk>")
    @not_found_if_denied
    @has_access
    def training_run(self, pk):
        run = self._training_run(pk)
        return self.render_template("churn/training_run.html", title=_l("Churn model training"),
                                    run=run, outcome=training_form.outcome(run),
                                    local_time=local_time, status_labels=JOB_STATUSES)

    @expose("/train/<int:pk>/progress")
    @not_found_if_denied
    @has_access
    def training_progress(self, pk):
        """Progress as JSON, polled by the training page (any web process can answer)."""
        run = self._training_run(pk)
        outcome = training_form.outcome(run)
        return jsonify(id=run.id, status=run.status, done=run.done, total=run.total,
                       percent=run.percent, message=stored_text.show(run.message),
                       version_url=(url_for("ChurnModelRegistryView.version",
                                            pk=outcome["model_id"])
                                    if outcome.get("model_id") else None),
                       refused=(stored_text.show(outcome["refused"])
                                if outcome.get("refused") else None))

    @staticmethod
    def _training_run(run_id):
        run = db.session.get(JobRun, run_id)
        if run is None or run.name != training_form.JOB_NAME:
            abort(404)
        return run

    @expose("/<int:pk>/activate", methods=["POST"])
    @not_found_if_denied
    @has_access
    def activate(self, pk):
        row = db.session.get(ChurnModel, pk)
        if row is None:
            abort(404)
        reason = (request.form.get("confirm_reason") or "").strip()
        try:
            registry.activate(db.session, row.version, user=self.appbuilder.sm.current_user,
                              confirm_reason=reason)
        except registry.SuspiciousModel as exc:
            db.session.rollback()
            if request.form.get("confirming"):
                flash(_("Give the reason for activating this version anyway."), "danger")
            return self.render_template(
                "churn/confirm_activation.html", title=_l("Confirm activation"), row=row,
                roc_auc=exc.roc_auc, threshold=registry.SUSPICIOUS_AUC,
                max_reason=registry.MAX_REASON)
        except (registry.NoSuchVersion, registry.ArtifactRefused) as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for("ChurnModelRegistryView.version", pk=pk))
        db.session.commit()
        flash(_("Model version %(v)s is now used for scoring.", v=row.version), "success")
        return redirect(url_for("ChurnModelRegistryView.version", pk=pk))

    @expose("/features")
    @has_access
    def features(self):
        setting = db.session.get(ChurnSetting, dataset.MODEL_FEATURES_SETTING)
        marked = set((setting.value or {}).get("features", [])) if setting else set()
        from backoffice.churn.extract import STANDARD_FEATURE_COLUMNS

        choices = [(f"customer.{name}", name) for name in sorted(STANDARD_FEATURE_COLUMNS)]
        choices += [(spec.key, spec.label()) for spec in _catalog().values()
                    if spec.type in dataset.USABLE_CUSTOM_TYPES and not spec.sensitive]
        return self.render_template("churn/features.html", title=_l("Model features"),
                                    choices=choices, marked=marked)

    @expose("/features", methods=["POST"])
    @has_access
    def save_features(self):
        from backoffice.audit.log import record

        names = request.form.getlist("feature")
        try:
            dataset.resolve(db.session, names)
        except dataset.FeatureError as exc:
            flash(str(exc), "danger")
            return redirect(url_for("ChurnModelRegistryView.features"))
        setting = db.session.get(ChurnSetting, dataset.MODEL_FEATURES_SETTING)
        if setting is None:
            setting = ChurnSetting(key=dataset.MODEL_FEATURES_SETTING, value={})
            db.session.add(setting)
        setting.value = {"features": names}
        db.session.flush()
        record("config_change", entity="ChurnSetting", entity_id=setting.key,
               detail={"features": names})
        db.session.commit()
        flash(_("Model features saved; the next training uses them."), "success")
        return redirect(url_for("ChurnModelRegistryView.features"))


class ChurnSignalRuleView(CrmModelView):
    """The rule signals' thresholds, changed without code (no add or delete: a fixed set)."""

    datamodel = CrmInterface(ChurnSignalRule)
    class_permission_name = "ChurnSignalRule"
    route_base = "/churn/signals"
    base_permissions = ["can_read", "can_write"]
    list_title = _l("Churn signal settings")
    show_title = _l("Churn signal")
    edit_title = _l("Edit churn signal")
    label_columns = {"code": _l("Signal"), "enabled": _l("Enabled"),
                     "threshold": _l("Threshold"), "window_days": _l("Window (days)"),
                     "min_value_band": _l("Only for value band at least"),
                     "updated_at": _l("Updated at")}
    list_columns = ["code", "enabled", "threshold", "window_days", "min_value_band",
                    "updated_at"]
    show_columns = list_columns
    edit_columns = ["enabled", "threshold", "window_days", "min_value_band"]
    formatters_columns = {"code": lambda code: words.SIGNAL_LABELS.get(code, code),
                          "updated_at": local_time}

    def pre_update(self, item):
        from backoffice.errors import WriteRefused

        problems = {}
        if item.threshold is None or item.threshold < 0:
            problems["threshold"] = _l("The threshold must be zero or more.")
        if item.window_days is None or not 1 <= item.window_days <= 365:
            problems["window_days"] = _l("The window is 1 to 365 days.")
        if item.min_value_band not in (None, "", "high", "medium", "low"):
            problems["min_value_band"] = _l("Choose high, medium or low, or leave it empty.")
        if problems:
            raise WriteRefused(problems)
        item.min_value_band = item.min_value_band or None
