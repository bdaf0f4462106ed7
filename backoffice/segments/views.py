"""Screens of tiers, segments and need detectors: list, rule builder with a live count, members,
counts over time, tier history and the reviewed tier override.

Every query about customers goes through the ORM session, so the record scope applies: the
live count, the member list, the tier distribution and the history show only what the viewer
may see. Counts are reads too: a rule on the deep profile counts only customers whose deep
profile the viewer may see, fields the viewer may not read are not offered, masked ones match
exactly only (``segments.guard``); the bank-wide figures the refresh stores (member counts,
counts over time) are shown only where they equal what the viewer could count.
Rule definitions themselves are configuration, visible to everyone granted the screen.

A segment's members are the customers its rule matched at the last refresh together with the
customers pinned to it by an automation rule (members = matched ∪ pinned, each once). The
screens count both parts for the viewer, list the pinned members with the rule that added
them, and let whom may edit the segment remove a pin (a customer in their scope only); the
stored figures move with the pin at once (``segments.pins``).
"""
from __future__ import annotations

import json
from typing import NamedTuple

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from backoffice import charts
from backoffice.extensions import db
from backoffice.review.views import not_found_if_denied
from backoffice.segments import guard, pins
from backoffice.segments import rules as r
from backoffice.segments.catalog import describe, rule_fields
from models import Customer, Segment, SegmentCount, SegmentMembership, TierChange
from models import choices as c
from models.automation import AutomationRule
from models.base import utcnow
from models.segments import PINNED

KIND_LABELS = {"tier": _l("Tier rules"), "segment": _l("Segments"), "need": _l("Need detectors")}
OP_TEXT = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤",
           "between": _l("between"), "in": _l("is one of"), "not_in": _l("is none of"),
           "any_of": _l("is any of"), "contains": _l("contains")}
METHOD_PERMISSIONS = {"index": "read", "show": "read", "tiers": "read", "count": "read",
                      "new": "write", "edit": "write", "refresh": "write", "unpin": "write",
                      "override": "override"}
MEMBERS_SHOWN = 50


def current_fields():
    """The rule fields the viewer may test: the policy leaves out fields the viewer may not
    read and keeps masked ones to exact matches (``segments.guard``)."""
    return guard.for_viewer(rule_fields(session=db.session, roles=_role_names()))


def _role_names():
    from backoffice.security.current import current_user

    user = current_user()
    return [role.name for role in user.roles] if user is not None else []


def describe_rule(rule, fields) -> str:
    """A rule as one readable line: (A ≥ 1 AND (B = x OR …))."""
    if not rule or not rule.get("items"):
        return str(_l("everyone")) if (rule or {}).get("op", "and") == "and" else "—"
    # Outside the f-string, where message extraction can see the words.
    word = pgettext("rule", "AND") if rule["op"] == "and" else pgettext("rule", "OR")
    joiner = f" {word} "
    parts = []
    for item in rule["items"]:
        if "items" in item:
            parts.append(f"({describe_rule(item, fields)})")
            continue
        field = fields.get(item["field"])
        label = field.label if field else item["field"]
        value = item.get("value")
        if field is not None and field.choices:
            names = dict(field.choices)
            value = ([names.get(str(v), v) for v in value] if isinstance(value, list)
                     else names.get(str(value), value))
        if isinstance(value, list):
            value = " – ".join(map(str, value)) if item["op"] == "between" else ", ".join(
                map(str, value))
        if isinstance(value, bool):
            value = _("Yes") if value else _("No")
        parts.append(f"{label} {OP_TEXT.get(item['op'], item['op'])} {value}")
    return joiner.join(parts)


class Figures(NamedTuple):
    """A segment's counts as one viewer may see them: ``members`` (matched ∪ pinned, each
    customer once), ``matched`` (the rule matched them at the last refresh) and ``pinned``
    (added by a rule, whether or not the rule also matches them)."""

    members: int = 0
    matched: int = 0
    pinned: int = 0


def membership_figures():
    """The three counts of :class:`Figures` over ``segment_membership`` rows (one scan)."""
    return (func.count(), func.count(case((SegmentMembership.matched.is_(True), 1))),
            func.count(case((SegmentMembership.source == PINNED, 1))))


def visible_member_counts(segments, fields) -> dict:
    """``{segment id: Figures the viewer may count}``: the refresh stores bank-wide counts,
    which would show customers outside the viewer's scope and, for a rule on the deep profile,
    customers whose deep profile the viewer may not see. Two grouped queries, whatever the
    number of segments (the record scope applies to the joined customers)."""
    per_segment = (select(SegmentMembership.segment_id, *membership_figures())
                   .join(Customer, Customer.id == SegmentMembership.customer_id)
                   .group_by(SegmentMembership.segment_id))
    restricted = {s.id: guard.segment_condition(s, fields) for s in segments}
    deep_ids = [pk for pk, condition in restricted.items() if condition is not None]
    rows = db.session.execute(per_segment.where(
        SegmentMembership.segment_id.not_in(deep_ids or [0]))).all()
    if deep_ids:  # every deep rule gets the same condition: the viewer's deep profiles
        rows += db.session.execute(per_segment.where(
            SegmentMembership.segment_id.in_(deep_ids), restricted[deep_ids[0]])).all()
    counts = {pk: Figures(*numbers) for pk, *numbers in rows}
    tiers = dict(db.session.execute(select(Customer.tier, func.count(Customer.id))
                                    .group_by(Customer.tier)).all())
    return {s.id: (Figures(tiers.get(s.tier, 0), tiers.get(s.tier, 0)) if s.kind == "tier"
                   else counts.get(s.id, Figures())) for s in segments}


def segment_figures(segment_id, restricted) -> Figures:
    """:class:`Figures` of one segment for the viewer (its record scope applies)."""
    query = (select(SegmentMembership.segment_id, *membership_figures())
             .join(Customer, Customer.id == SegmentMembership.customer_id)
             .where(SegmentMembership.segment_id == segment_id)
             .group_by(SegmentMembership.segment_id))
    if restricted is not None:
        query = query.where(restricted)
    row = db.session.execute(query).first()
    return Figures(*row[1:]) if row is not None else Figures()


def pinned_members(segment_id, restricted, limit):
    """The pinned members the viewer may see, newest pin first: (membership, customer, the
    adding rule's name or None when the rule is gone)."""
    from backoffice import stored_text

    query = (select(SegmentMembership, Customer, AutomationRule.name)
             .join(Customer, Customer.id == SegmentMembership.customer_id)
             .outerjoin(AutomationRule, AutomationRule.id == SegmentMembership.added_by_rule_id)
             .where(SegmentMembership.segment_id == segment_id,
                    SegmentMembership.source == PINNED))
    if restricted is not None:
        query = query.where(restricted)
    rows = db.session.execute(query.order_by(SegmentMembership.added_at.desc(),
                                             Customer.customer_no).limit(limit)).all()
    return [(membership, customer, stored_text.show(name) if name is not None else None)
            for membership, customer, name in rows]


def _sees_whole_history(restricted) -> bool:
    """Counts over time are stored for the whole bank by the refresh: shown only to a viewer
    whose own count would be the same (every customer in scope, no deep-profile restriction on
    this segment); anyone else would read customers outside their scope from them."""
    from backoffice.security.policy import current_viewer

    return restricted is None and current_viewer().scope.customer_condition() is None


class SegmentsView(BaseView):
    """``/segments/``: tier rules, segments and need detectors."""

    route_base = "/segments"
    class_permission_name = "Segment"
    method_permission_name = METHOD_PERMISSIONS
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        rules = db.session.scalars(select(Segment).order_by(Segment.kind, Segment.priority,
                                                            Segment.id)).all()
        fields = current_fields()
        grouped = {kind: [(s, describe_rule(s.rule, fields)) for s in rules if s.kind == kind]
                   for kind in KIND_LABELS}
        return self.render_template("segments/index.html", grouped=grouped,
                                    member_counts=visible_member_counts(rules, fields),
                                    kind_labels=KIND_LABELS, tiers=c.TIERS,
                                    title=_l("Tiers and segments"))

    @expose("/show/<int:pk>")
    @not_found_if_denied
    @has_access
    def show(self, pk):
        segment = db.session.get(Segment, pk) or abort(404)
        fields = current_fields()
        restricted = guard.segment_condition(segment, fields)
        figure = None
        if _sees_whole_history(restricted):
            counts = db.session.execute(select(SegmentCount.day, SegmentCount.count,
                                               SegmentCount.pinned).where(
                SegmentCount.segment_id == pk).order_by(SegmentCount.day)).all()
            series = {str(_l("Customers")): [n for _d, n, _p in counts]}
            if segment.kind != "tier":  # members = matched ∪ pinned: the pinned part too
                series[str(_l("Pinned members"))] = [p for _d, _n, p in counts]
            figure = charts.line([d for d, _n, _p in counts], series,
                                 title=_l("Customers over time"))
        if segment.kind == "tier":
            members_query = select(Customer).where(Customer.tier == segment.tier)
        else:
            members_query = (select(Customer).join(SegmentMembership,
                                                   SegmentMembership.customer_id == Customer.id)
                             .where(SegmentMembership.segment_id == pk))
        if restricted is not None:
            members_query = members_query.where(restricted)
        members = db.session.scalars(members_query.order_by(Customer.customer_no)
                                     .limit(MEMBERS_SHOWN)).all()
        visible = db.session.scalar(select(func.count()).select_from(
            members_query.subquery()))
        figures, pins = Figures(visible, visible), []
        if segment.kind != "tier":
            figures = segment_figures(pk, restricted)
            pins = pinned_members(pk, restricted, MEMBERS_SHOWN)
        return self.render_template("segments/show.html", segment=segment, figure=figure,
                                    rule_text=describe_rule(segment.rule, fields),
                                    members=members, visible=visible, figures=figures,
                                    pins=pins, kind_labels=KIND_LABELS,
                                    tiers=c.TIERS, categories=c.PRODUCT_CATEGORIES,
                                    title=segment.name)

    @expose("/unpin/<int:pk>/<int:customer_id>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def unpin(self, pk, customer_id):
        """Remove a pin: the customer stays a member only if the rule matched them at the last
        refresh (a plain rule member from then on), else leaves the segment now. A customer
        outside the viewer's scope (or whose deep profile a deep rule hides) is not found."""
        from backoffice.audit import log

        segment = db.session.get(Segment, pk)
        if segment is None or segment.kind == "tier":
            abort(404)
        restricted = guard.segment_condition(segment, current_fields())
        query = (select(SegmentMembership)
                 .join(Customer, Customer.id == SegmentMembership.customer_id)
                 .where(SegmentMembership.segment_id == pk,
                        SegmentMembership.customer_id == customer_id,
                        SegmentMembership.source == PINNED))
        if restricted is not None:
            query = query.where(restricted)
        membership = db.session.scalars(query).first() or abort(404)
        detail = {"code": segment.code, "rule_id": membership.added_by_rule_id,
                  "added_at": membership.added_at.isoformat() if membership.added_at else None,
                  "kept": bool(membership.matched)}
        pins.unpin(db.session, membership, now=utcnow())
        log.record("segment.unpin", entity="Segment", entity_id=pk, customer_id=customer_id,
                   detail=detail)
        db.session.commit()
        flash(_("The pin was removed: the customer stays only while the rule matches them.")
              if detail["kept"] else _("The pin was removed and the customer left the segment."),
              "info")
        return redirect(url_for("SegmentsView.show", pk=pk))

    @expose("/count", methods=["POST"])
    @has_access
    def count(self):
        """The live count of the rule builder: customers the viewer may see that match."""
        payload = request.get_json(silent=True) or {}
        fields = current_fields()
        try:
            condition = r.compile_rule(payload.get("rule") or {}, fields, today=utcnow().date(),
                                       dialect=db.session.get_bind().dialect.name)
        except r.RuleError as exc:
            return jsonify(errors=exc.errors), 422
        except ValueError as exc:  # a custom-field filter refused its operand
            return jsonify(errors=[str(exc)]), 422
        query = select(func.count(Customer.id)).where(condition)
        restricted = guard.condition([payload.get("rule")], fields)
        if restricted is not None:
            query = query.where(restricted)
        total = db.session.scalar(query)
        return jsonify(count=int(total or 0))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        kind = request.values.get("kind", "segment")
        if kind not in KIND_LABELS:
            abort(404)
        segment = Segment(kind=kind, rule={"op": "and", "items": []}, priority=100,
                          active=True, offer_categories=[])
        return self._form(segment)

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @not_found_if_denied
    @has_access
    def edit(self, pk):
        return self._form(db.session.get(Segment, pk) or abort(404))

    def _form(self, segment):
        fields = current_fields()
        errors: dict = {}
        if request.method == "POST":
            errors = self._save(segment, fields)
            if not errors:
                flash(_("Saved. Memberships follow at the next refresh."), "info")
                return redirect(url_for("SegmentsView.show", pk=segment.id))
        return self.render_template(
            "segments/edit.html", segment=segment, errors=errors, kind_labels=KIND_LABELS,
            tiers=c.TIERS, categories=c.PRODUCT_CATEGORIES, rule_fields=describe(fields),
            rule=segment.rule or {"op": "and", "items": []},
            count_url=url_for("SegmentsView.count"),
            title=_l("Edit %(name)s", name=segment.name) if segment.id else _l("New rule"))

    def _save(self, segment, fields) -> dict:
        from backoffice.audit import log

        form = request.form
        errors = {}
        segment.name = (form.get("name") or "").strip()[:100]
        segment.code = (form.get("code") or "").strip()[:40]
        segment.description = (form.get("description") or "").strip() or None
        segment.active = form.get("active") == "y"
        if not segment.name:
            errors["name"] = _("A name is required.")
        if not segment.code or not segment.code.replace("_", "").isalnum():
            errors["code"] = _("A code of letters, digits and underscores is required.")
        try:
            segment.priority = int(form.get("priority") or 100)
        except ValueError:
            errors["priority"] = _("The priority is a whole number.")
        if segment.kind == "tier":
            segment.tier = form.get("tier")
            if segment.tier not in c.TIERS:
                errors["tier"] = _("Choose the tier this rule assigns.")
        if segment.kind == "need":
            chosen = form.getlist("offer_categories")
            segment.offer_categories = [v for v in chosen if v in c.PRODUCT_CATEGORIES]
        try:
            segment.rule = r.validate(json.loads(form.get("rule") or "{}"), fields)
        except (r.RuleError, ValueError) as exc:
            errors["rule"] = "; ".join(getattr(exc, "errors", [str(exc)]))
        if errors:
            db.session.rollback()
            return errors
        new = segment.id is None
        db.session.add(segment)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            return {"code": _("This code is taken.")}
        log.record("segment.create" if new else "segment.update", entity="Segment",
                   entity_id=segment.id, detail={"code": segment.code, "rule": segment.rule})
        db.session.commit()
        return {}

    @expose("/refresh", methods=["POST"])
    @has_access
    def refresh(self):
        from backoffice.security.current import current_user
        from backoffice.segments.jobs_link import enqueue

        user = current_user()
        run = enqueue("jobs.segments.refresh", requested_by_id=user.id if user else None,
                      description=_l("Refresh tiers and segments"))
        flash(_("The refresh was started (job %(id)s).", id=run.id), "info")
        return redirect(url_for("JobRunView.show", pk=run.id))

    @expose("/tiers")
    @has_access
    def tiers(self):
        effective = func.coalesce(Customer.tier_override, Customer.tier)
        counts = dict(db.session.execute(select(effective, func.count(Customer.id))
                                         .group_by(effective)).all())
        labels = [str(c.TIERS.get(k, k)) for k in c.TIERS]
        figure = charts.bar(labels, [counts.get(k, 0) for k in c.TIERS],
                            title=_l("Customers by tier"))
        changes = db.session.execute(
            select(TierChange, Customer.customer_no, Customer.name)
            .join(Customer, Customer.id == TierChange.customer_id)
            .order_by(TierChange.changed_at.desc(), TierChange.id.desc()).limit(100)).all()
        return self.render_template("segments/tiers.html", figure=figure, changes=changes,
                                    tiers=c.TIERS, counts=counts, title=_l("Tiers"))

    @expose("/override/<int:pk>", methods=["GET", "POST"])
    @not_found_if_denied
    @has_access
    def override(self, pk):
        """A manual tier for one customer, with a reason, through maker-checker review."""
        from backoffice.review import service

        from backoffice.segments.customer_panel import may_override

        customer = db.session.get(Customer, pk)
        if not may_override(customer):  # the same check that shows the 360 page's button
            abort(404)
        errors = {}
        if request.method == "POST":
            tier = request.form.get("tier") or None
            reason = (request.form.get("reason") or "").strip()
            if tier is not None and tier not in c.TIERS:
                errors["tier"] = _("Choose a tier.")
            if not reason:
                errors["reason"] = _("A reason is required for a tier override.")
            if not errors:
                try:
                    change = service.change_customer(
                        service.current_user(), customer.id,
                        {"tier_override": tier, "tier_override_reason": reason[:255]})
                except service.ReviewRefused as refused:
                    errors = {k: str(v) for k, v in refused.errors.items()}
                else:
                    if change is not None:
                        flash(str(service.submitted_message(change)), "info")
                        return redirect(url_for("ReviewView.show", pk=change.id))
                    flash(_("The tier override was saved."), "info")
                    return redirect(url_for("CustomerView.show", pk=customer.id))
        return self.render_template("segments/override.html", customer=customer,
                                    errors=errors, tiers=c.TIERS,
                                    title=_l("Tier override"))
