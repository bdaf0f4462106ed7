"""Campaign screens: list, edit (with the rule builder and custom fields), the workflow, targets
with their outcomes, the response import and the evaluation with charts.

Campaign definitions are configuration; everything about customers (gate preview counts,
targets, outcomes, evaluation) is read through the scoped ORM session, so an RM sees their own
targets, a branch manager their branch's, and an out-of-scope target answers 404. The audience
preview is a count a user steers with the campaign's rule: when it tests the deep profile it
counts only customers whose deep profile the user may see (``segments.guard``).
"""
from __future__ import annotations

import csv
import io
import json

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.forms import DynamicForm
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext, pgettext
from sqlalchemy import func, select
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Optional

from backoffice import charts
from backoffice.campaigns import evaluation, gate, service
from backoffice.extensions import db
from backoffice.messaging import registry as message_channels
from backoffice.pickers import LocalDateField
from backoffice.security.current import current_user
from backoffice.security.permissions import has_permission
from backoffice.review.views import not_found_if_denied
from backoffice.segments.catalog import describe
from backoffice.segments.views import current_fields, describe_rule
from models import Campaign, CampaignMessage, CampaignTarget, Customer, Product, Segment
from models import choices as c
from models.campaigns import MESSAGE_CHANNELS

STATUS_LABELS = {"draft": _l("Draft"), "submitted": _l("Submitted"), "approved": _l("Approved"),
                 "running": lazy_pgettext("campaign status", "Running"),
                 "closed": lazy_pgettext("campaign status", "Closed")}
# Phone targets get a task for their relationship manager; the others a message the app sends.
CHANNEL_LABELS = message_channels.labels(("phone",) + MESSAGE_CHANNELS)
MESSAGE_LABELS = {"pending": lazy_pgettext("message status", "Pending"), "sending": _l("Sending"), "sent": _l("Sent"),
                  "retry": _l("Waiting to retry"), "failed": _l("Failed"),
                  "cancelled": _l("Cancelled")}
REASON_LABELS = gate.REASON_LABELS
METHOD_PERMISSIONS = {"index": "read", "show": "read", "evaluation": "read", "new": "write",
                      "edit": "write", "submit": "write", "launch": "write", "close": "write",
                      "approve": "approve", "reject": "approve", "outcome": "outcome",
                      "import_outcomes": "outcome", "detect": "outcome"}
TARGETS_PER_PAGE = 50
MAX_IMPORT_ROWS = 20000


class CampaignForm(DynamicForm):
    name = StringField(_l("Name"))
    product_id = SelectField(_l("Product"), validators=[Optional()], coerce=str)
    target_segment_ids = SelectMultipleField(_l("Target segments"), coerce=str)
    target_tiers = SelectMultipleField(_l("Target tiers"), choices=c.choice_list(c.TIERS))
    channels = SelectMultipleField(_l("Channels"), choices=list(CHANNEL_LABELS.items()))
    start_on = LocalDateField(_l("Start date"), validators=[Optional()])  # the calendar
    end_on = LocalDateField(_l("End date"), validators=[Optional()])
    message_template = TextAreaField(_l("Message template"))
    offer = StringField(_l("Offer"))
    control_share = StringField(_l("Control group share (0–0.9)"), default="0.1")
    control_seed = StringField(_l("Control group seed"), default="0")


def audience_restriction(campaign, fields):
    """Customers the preview may count for this user: when the audience tests the deep profile
    (its extra rule or the rules of its target segments), only customers whose deep profile
    the user may see, as for the rule builder's live count (``segments.guard``)."""
    from backoffice.segments import guard

    rules = [campaign.target_rule]
    if campaign.target_segment_ids:
        rules += [segment.rule for segment in db.session.scalars(select(Segment).where(
            Segment.id.in_(list(campaign.target_segment_ids)), Segment.kind != "tier"))]
    return guard.condition(rules, fields)


def _counts_whole_bank(campaign, fields) -> bool:
    """Whether the gate report stored at launch (counted over the whole bank) is what this
    user could count: every customer in scope, no deep-profile restriction on the audience."""
    from backoffice.security.policy import current_viewer

    return current_viewer().scope.customer_condition() is None \
        and audience_restriction(campaign, fields) is None


def _form_class(campaign):
    from backoffice.fields.forms import with_custom_fields

    return with_custom_fields(CampaignForm, "campaign", editing=campaign.id is not None,
                              load_record=lambda: campaign)


def _choices(form):
    products = db.session.scalars(select(Product).where(Product.active.is_(True))
                                  .order_by(Product.code)).all()
    form.product_id.choices = [("", "—")] + [
        (str(p.id), f"{p.name} ({p.risk_level})") for p in products]
    segments = db.session.scalars(select(Segment).where(Segment.kind != "tier")
                                  .order_by(Segment.kind, Segment.name)).all()
    form.target_segment_ids.choices = [(str(s.id), s.name) for s in segments]


class CampaignsView(BaseView):
    """``/campaigns/``: plan, approve, run and evaluate campaigns."""

    route_base = "/campaigns"
    class_permission_name = "Campaign"
    method_permission_name = METHOD_PERMISSIONS
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        status = request.args.get("status")
        query = select(Campaign).order_by(Campaign.id.desc())
        if status in STATUS_LABELS:
            query = query.where(Campaign.status == status)
        campaigns = db.session.scalars(query.limit(200)).all()
        return self.render_template("campaigns/index.html", campaigns=campaigns,
                                    status_labels=STATUS_LABELS, title=_l("Campaigns"))

    def _campaign(self, pk) -> Campaign:
        campaign = db.session.get(Campaign, pk)
        if campaign is None:
            abort(404)
        return campaign

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        return self._edit(Campaign(status="draft", channels=[], target_tiers=[],
                                   target_segment_ids=[], target_rule={"op": "and", "items": []},
                                   custom_fields={}))

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @not_found_if_denied
    @has_access
    def edit(self, pk):
        campaign = self._campaign(pk)
        if campaign.status != "draft":
            flash(_("Only a draft campaign can be edited."), "warning")
            return redirect(url_for("CampaignsView.show", pk=pk))
        return self._edit(campaign)

    def _edit(self, campaign):
        from backoffice.fields import forms as custom_forms

        form_class = _form_class(campaign)
        fields = current_fields()
        form = form_class(request.form if request.method == "POST" else None)
        _choices(form)
        errors = {}
        if request.method == "GET" and campaign.id is not None:
            form.process(obj=campaign)
            _choices(form)
            form.product_id.data = str(campaign.product_id or "")
            form.target_segment_ids.data = [str(v) for v in campaign.target_segment_ids or []]
            custom_forms.prefill(form, campaign, "campaign")
        rule = campaign.target_rule or {"op": "and", "items": []}
        if request.method == "POST":
            try:
                rule = json.loads(request.form.get("rule") or "{}")
            except ValueError:
                rule = {"op": "and", "items": []}
            valid = form.validate()
            try:
                clean = service.clean_campaign({
                    "name": form.name.data, "product_id": form.product_id.data,
                    "target_segment_ids": form.target_segment_ids.data,
                    "target_tiers": form.target_tiers.data, "channels": form.channels.data,
                    "target_rule": rule, "start_on": form.start_on.data,
                    "end_on": form.end_on.data, "message_template": form.message_template.data,
                    "offer": form.offer.data, "control_share": form.control_share.data,
                    "control_seed": form.control_seed.data}, fields)
            except service.CampaignRefused as refused:
                errors = {k: str(v) for k, v in refused.errors.items()}
                valid = False
            if valid:
                new = campaign.id is None
                custom = custom_forms.take_checked_values("campaign") or {}
                custom_forms.store(campaign, "campaign", custom, new=new)
                user = current_user()
                service.save(campaign, clean, user.id if user else None)
                flash(_("The campaign was saved."), "info")
                return redirect(url_for("CampaignsView.show", pk=campaign.id))
        return self.render_template(
            "campaigns/edit.html", form=form, campaign=campaign, errors=errors,
            custom_names=getattr(form, "custom_field_names", []), rule=rule,
            rule_fields=describe(fields), count_url=url_for("SegmentsView.count"),
            title=_l("Edit campaign") if campaign.id else _l("New campaign"))

    @expose("/show/<int:pk>")
    @not_found_if_denied
    @has_access
    def show(self, pk):
        campaign = self._campaign(pk)
        user = current_user()
        fields = current_fields()
        preview = split_warning = None
        if campaign.status in ("draft", "submitted", "approved") and campaign.product_id \
                and campaign.channels:
            restrict = audience_restriction(campaign, fields)
            preview = service.gate_counts(db.session, campaign, fields, _today(),
                                          restrict=restrict)
            preview["planned"] = service.planned_split(db.session, campaign, fields, _today(),
                                                       preview["passed"], restrict=restrict)
            split_warning = service.control_warning(preview["planned"])
        page = max(int(request.args.get("page", 1) or 1), 1)
        targets_query = (select(CampaignTarget, Customer)
                         .join(Customer, Customer.id == CampaignTarget.customer_id)
                         .where(CampaignTarget.campaign_id == pk))
        total = db.session.scalar(select(func.count()).select_from(
            select(CampaignTarget.id).where(CampaignTarget.campaign_id == pk).subquery()))
        targets = db.session.execute(targets_query.order_by(CampaignTarget.target_group.desc(),
                                                            Customer.customer_no)
                                     .offset((page - 1) * TARGETS_PER_PAGE)
                                     .limit(TARGETS_PER_PAGE)).all()
        segments = db.session.scalars(select(Segment).where(
            Segment.id.in_(list(campaign.target_segment_ids or [0])))).all()
        # Where the SMS, e-mail and WeChat messages stand (counts, like the gate report).
        messages = dict(db.session.execute(
            select(CampaignMessage.status, func.count()).where(CampaignMessage.campaign_id == pk)
            .group_by(CampaignMessage.status)).all())
        from backoffice.fields.registry import field_catalog

        return self.render_template(
            "campaigns/show.html", campaign=campaign, preview=preview, targets=targets,
            split_warning=split_warning,
            launch_report=campaign.gate_report if _counts_whole_bank(campaign, fields) else None,
            messages=messages, message_labels=MESSAGE_LABELS,
            total=total, page=page, pages=max(1, -(-int(total or 0) // TARGETS_PER_PAGE)),
            status_labels=STATUS_LABELS, channel_labels=CHANNEL_LABELS,
            reason_labels=REASON_LABELS, tiers=c.TIERS, segments=segments,
            rule_text=describe_rule(campaign.target_rule, fields),
            custom_specs=field_catalog("campaign", roles=[r.name for r in user.roles]),
            may_approve=service.review_refusal(
                campaign, user, has_permission(user, "can_approve", "Campaign")) is None,
            may_write=has_permission(user, "can_write", "Campaign"),
            may_outcome=has_permission(user, "can_outcome", "Campaign"),
            title=campaign.name)

    def _transition(self, pk, action):
        campaign = self._campaign(pk)
        user = current_user()
        try:
            service.transition(campaign, action, user, note=request.form.get("note"),
                               may_approve=has_permission(user, "can_approve", "Campaign"))
        except service.CampaignRefused as refused:
            db.session.rollback()
            for message in refused.errors.values():
                flash(str(message), "danger")
        else:
            _log(f"campaign.{action}", campaign)
            flash(_("Done: the campaign is now %(status)s.",
                    status=STATUS_LABELS[campaign.status]), "info")
        return redirect(url_for("CampaignsView.show", pk=pk))

    @expose("/submit/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def submit(self, pk):
        return self._transition(pk, "submit")

    @expose("/approve/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def approve(self, pk):
        return self._transition(pk, "approve")

    @expose("/reject/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def reject(self, pk):
        return self._transition(pk, "reject")

    @expose("/close/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def close(self, pk):
        return self._transition(pk, "close")

    def _split_warning(self, campaign):
        """The control-split warning over the customers this user's preview counts."""
        if not (campaign.product_id and campaign.channels):
            return None
        fields = current_fields()
        restrict = audience_restriction(campaign, fields)
        counts = service.gate_counts(db.session, campaign, fields, _today(), restrict=restrict)
        split = service.planned_split(db.session, campaign, fields, _today(), counts["passed"],
                                      restrict=restrict)
        return service.control_warning(split)

    @expose("/launch/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def launch(self, pk):
        """Enqueue the launch (gate, split, targets, tasks): a job, inline without Redis."""
        from backoffice.segments.jobs_link import enqueue

        campaign = self._campaign(pk)
        if campaign.status != "approved":
            flash(_("Only an approved campaign can be launched."), "danger")
            return redirect(url_for("CampaignsView.show", pk=pk))
        warning = self._split_warning(campaign)
        if warning is not None and request.form.get("confirm_split") != "1":
            # Launching splits the audience for good: the user sees why and launches again.
            _log("campaign.launch_held", campaign, {"reason": "control split"})
            flash(str(warning), "warning")
            return redirect(url_for("CampaignsView.show", pk=pk))
        user = current_user()
        run = enqueue("jobs.campaigns.launch", pk, requested_by_id=user.id,
                      description=_l("Launch campaign %(id)s", id=pk))
        _log("campaign.launch", campaign, {"job_run_id": run.id})
        if run.status == "failed":
            flash(_("The launch failed; see the job for details."), "danger")
        else:
            flash(_("The launch was started (job %(id)s).", id=run.id), "info")
        return redirect(url_for("CampaignsView.show", pk=pk))

    @expose("/detect/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def detect(self, pk):
        from backoffice.segments.jobs_link import enqueue

        campaign = self._campaign(pk)
        user = current_user()
        run = enqueue("jobs.campaigns.detect_conversions", pk, requested_by_id=user.id,
                      description=_l("Detect conversions of campaign %(id)s", id=pk))
        _log("campaign.detect", campaign, {"job_run_id": run.id})
        flash(_("Conversion detection was started (job %(id)s).", id=run.id), "info")
        return redirect(url_for("CampaignsView.evaluation", pk=pk))

    @expose("/outcome/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def outcome(self, pk):
        """Staff record one target's response or conversion (the target must be visible)."""
        campaign = self._campaign(pk)
        target = db.session.scalars(select(CampaignTarget).where(
            CampaignTarget.campaign_id == pk,
            CampaignTarget.id == _int(request.form.get("target_id")))).one_or_none()
        if target is None:
            abort(404)
        if campaign.status not in ("running", "closed"):
            flash(_("Outcomes are recorded once the campaign runs."), "danger")
            return redirect(url_for("CampaignsView.show", pk=pk))
        try:
            service.record_outcome(target, responded=request.form.get("responded") == "y",
                                   converted=request.form.get("converted") == "y",
                                   amount=request.form.get("amount"), source="staff")
        except service.CampaignRefused as refused:
            db.session.rollback()
            for message in refused.errors.values():
                flash(str(message), "danger")
        else:
            db.session.commit()
            _log("campaign.outcome", campaign, {"target_id": target.id},
                 customer_id=target.customer_id)
            flash(_("The outcome was recorded."), "info")
        return redirect(url_for("CampaignsView.show", pk=pk, page=request.form.get("page", 1)))

    @expose("/import/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def import_outcomes(self, pk):
        """A CSV of ``customer_no,responded,converted,amount``: good rows applied, every bad
        row reported with its line and reason."""
        campaign = self._campaign(pk)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose a CSV file."), "danger")
            return redirect(url_for("CampaignsView.show", pk=pk))
        applied, problems = import_outcome_rows(campaign, upload.read())
        _log("campaign.import", campaign, {"applied": applied, "problems": len(problems)})
        flash(_("%(n)s outcomes imported.", n=applied), "info")
        for problem in problems[:20]:
            flash(problem, "warning")
        if len(problems) > 20:
            flash(_("%(n)s more rows were refused.", n=len(problems) - 20), "warning")
        return redirect(url_for("CampaignsView.show", pk=pk))

    @expose("/evaluation/<int:pk>")
    @not_found_if_denied
    @has_access
    def evaluation(self, pk):
        campaign = self._campaign(pk)
        report = evaluation.evaluate(db.session, campaign)
        overall = report.overall
        funnel = charts.funnel(
            [_("Targets"), _("Contacted"), _("Responded"), _("Converted")],
            [overall.target.size, overall.target.contacted, overall.target.responded,
             overall.target.converted], title=_l("Target group funnel"))
        branch_rates = charts.bar_groups(
            [line.label for line in report.by_branch],
            {pgettext("campaign group", "Target"): [(line.conversion_rate or 0) * 100 for line in report.by_branch],
             _("Control"): [(line.control_conversion_rate or 0) * 100
                            for line in report.by_branch]},
            title=_l("Conversion rate by branch (%)"))
        return self.render_template("campaigns/evaluation.html", campaign=campaign,
                                    report=report, funnel=funnel, branch_rates=branch_rates,
                                    percent=evaluation.percent, status_labels=STATUS_LABELS,
                                    min_group=service.min_group(),
                                    title=_l("Evaluation: %(name)s", name=campaign.name))


def import_outcome_rows(campaign, data: bytes) -> tuple[int, list[str]]:
    """Apply the good rows of an outcome CSV to visible targets; list the refused ones."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return 0, [_("The file is not UTF-8 text.")]
    reader = csv.DictReader(io.StringIO(text))
    missing = {"customer_no", "converted"} - set(reader.fieldnames or [])
    if missing:
        return 0, [_("Missing columns: %(cols)s", cols=", ".join(sorted(missing)))]
    rows = list(reader)[:MAX_IMPORT_ROWS + 1]
    if len(rows) > MAX_IMPORT_ROWS:
        return 0, [_("At most %(n)s rows per file.", n=MAX_IMPORT_ROWS)]
    numbers = {(row.get("customer_no") or "").strip() for row in rows}
    targets = {number: target for target, number in db.session.execute(
        select(CampaignTarget, Customer.customer_no)
        .join(Customer, Customer.id == CampaignTarget.customer_id)
        .where(CampaignTarget.campaign_id == campaign.id,
               Customer.customer_no.in_(numbers))).all()}
    applied, problems = 0, []
    for line, row in enumerate(rows, start=2):
        number = (row.get("customer_no") or "").strip()
        target = targets.get(number)
        if target is None:
            problems.append(_("Line %(line)s: customer %(no)s is not a target of this campaign "
                              "you can see.", line=line, no=number or "—"))
            continue
        try:
            service.record_outcome(target, responded=_yes(row.get("responded")),
                                   converted=_yes(row.get("converted")),
                                   amount=row.get("amount"), source="import")
        except service.CampaignRefused as refused:
            problems.append(_("Line %(line)s: %(why)s", line=line,
                              why="; ".join(str(v) for v in refused.errors.values())))
            continue
        applied += 1
    db.session.commit()
    return applied, problems


def _yes(value) -> bool:
    return str(value or "").strip().lower() in ("1", "y", "yes", "true", "是")


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _today():
    from models.base import utcnow

    return utcnow().date()


def _log(action, campaign, detail=None, customer_id=None):
    from backoffice.audit import log

    log.record(action, entity="Campaign", entity_id=campaign.id, customer_id=customer_id,
               detail={"status": campaign.status, **(detail or {})})
