"""The segments room's part of the customer 360 page: the "campaigns and segments" tab (tiers
and segments the customer belongs to), the needs panel in it, and the tier-override button.

``may_override`` is the one check of the override: the route asks it, and the button is shown
only to whom it answers yes (a teller never meets a button that leads to a 404).
"""
from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.extensions import db
from models import Segment, SegmentMembership
from models.segments import PINNED

TAB = "marketing"
OVERRIDE = ("can_override", "Segment")


def may_override(customer, viewer=None) -> bool:
    """Whether the viewer may file a tier override for this customer: the override
    permission, on a customer in the viewer's record scope."""
    from backoffice.security.policy import current_viewer

    viewer = viewer or current_viewer()
    return customer is not None and viewer.has(*OVERRIDE) \
        and viewer.scope.permits_customer(customer)


def memberships(customer) -> dict:
    """The active segments and tier rules the customer is in, and whether they are pinned
    there (one query)."""
    from backoffice.segments.views import KIND_LABELS

    rows = db.session.execute(
        select(Segment, SegmentMembership.since, SegmentMembership.source == PINNED)
        .join(SegmentMembership, SegmentMembership.segment_id == Segment.id)
        .where(SegmentMembership.customer_id == customer.id, Segment.kind != "need",
               Segment.active.is_(True)).order_by(Segment.kind, Segment.priority,
                                                  Segment.id)).all()
    return {"memberships": rows, "kind_labels": KIND_LABELS}


def needs(customer) -> dict | None:
    """Needs, their evidence and the next-best offers (money values only for whom may see the
    customer's deep profile)."""
    from backoffice.security.policy import may_see_deep_profile
    from backoffice.segments.needs import customer_needs
    from backoffice.segments.views import current_fields
    from backoffice.suitability import validity_days

    found = customer_needs(customer, current_fields(),
                           show_money=may_see_deep_profile(customer),
                           validity_days=validity_days())
    return {"crm_needs": found, "may_override": may_override(customer)}


def register() -> None:
    from backoffice.customers.panels import Action, Panel, Tab, register_action, \
        register_panel, register_tab

    register_tab(Tab(TAB, _l("Campaigns and segments"), "segments/_customer_segments.html",
                     memberships, order=60, icon="fa-bullhorn"))
    register_panel(Panel("segment_needs", TAB, "segments/_customer_needs.html", needs,
                         order=10))
    register_action(Action("tier-override", _l("Tier override"),
                           lambda customer: url_for("SegmentsView.override", pk=customer.id),
                           lambda viewer, customer: may_override(customer, viewer),
                           icon="fa-signal", order=60))
