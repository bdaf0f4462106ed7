"""Admin screens: register, change, switch off webhooks; their deliveries, with Replay.

The secret is shown once, on the page that answers the registration (or a new secret), and
never again: it is stored sealed, and no screen, log row or export carries it. The deliveries
list shows where each delivery stands, never its body (customer data as the webhook's role
sees it, which is not the administrator's to read); the receiver's first bytes are shown with
anything shaped like an ID number, a mobile or an e-mail masked.
"""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.forms import DynamicForm
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Optional

from backoffice.audit.redact import redact_text
from backoffice.extensions import db
from backoffice.formatting import local_time, role_label
from backoffice.security.current import current_user, not_found_if_denied
from backoffice.webhooks import catalog, service
from backoffice.webhooks.words import SOURCES, STATUSES
from config import roles as r
from models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

METHOD_PERMISSIONS = {"index": "read", "deliveries": "read", "delivery": "read",
                      "new": "write", "edit": "write", "toggle": "write", "secret": "write",
                      "replay": "write"}
DELIVERIES_PER_PAGE = 50
FIELDS = ("name", "url", "events", "role_id", "active")


class WebhookForm(DynamicForm):
    name = StringField(_l("Name"))
    url = StringField(_l("URL"), description=_l("http:// or https:// only; deliveries are "
                                                 "signed, see the README's integration notes"))
    events = SelectMultipleField(_l("Events"), validate_choice=False)
    role_id = SelectField(_l("Payload follows the view of"), validators=[Optional()],
                          validate_choice=False,
                          description=_l("Customer fields are sent as this role sees them "
                                         "(masked as on its screens); none: no customer data"))
    active = BooleanField(_l("Active"), default=True)


def _choices(form) -> None:
    from flask_appbuilder.security.sqla.models import Role

    form.events.choices = catalog.choices()
    roles = db.session.scalars(select(Role).order_by(Role.name)).all()
    form.role_id.choices = [("", str(_l("None (no customer data)")))] + [
        (str(role.id), role_label(role)) for role in roles]


def _values(form) -> dict:
    return {"name": form.name.data, "url": form.url.data, "events": form.events.data,
            "role_id": form.role_id.data, "active": form.active.data}


class WebhooksView(BaseView):
    """``/webhooks/``: the bank's outbound webhooks (administrators)."""

    route_base = "/webhooks"
    class_permission_name = "Webhook"
    method_permission_name = METHOD_PERMISSIONS
    default_view = "index"

    def _webhook(self, pk) -> Webhook:
        webhook = db.session.get(Webhook, pk)
        if webhook is None:
            abort(404)
        return webhook

    @expose("/")
    @has_access
    def index(self):
        webhooks = db.session.scalars(select(Webhook).order_by(Webhook.name)).all()
        counts = dict(db.session.execute(
            select(WebhookDelivery.webhook_id, func.count())
            .where(WebhookDelivery.status == "failed")
            .group_by(WebhookDelivery.webhook_id)).all())
        return self.render_template(
            "webhooks/index.html", webhooks=webhooks, failed=counts, event_label=catalog.label,
            role_label=role_label, title=_l("Webhooks"))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        return self._edit(None)

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @not_found_if_denied
    @has_access
    def edit(self, pk):
        return self._edit(self._webhook(pk))

    def _edit(self, webhook: Webhook | None):
        form = WebhookForm(request.form if request.method == "POST" else None)
        _choices(form)
        errors = {}
        if request.method == "GET" and webhook is not None:
            form.name.data, form.url.data = webhook.name, webhook.url
            form.events.data = list(webhook.events or [])
            form.role_id.data = str(webhook.role_id or "")
            form.active.data = bool(webhook.active)
        if request.method == "POST" and form.validate():
            try:
                if webhook is None:
                    created, secret = service.create(db.session, _values(form), current_user())
                    return self._secret_page(created, secret)
                service.update(db.session, webhook, _values(form), current_user())
                flash(_("The webhook was saved."), "info")
                return redirect(url_for("WebhooksView.index"))
            except service.WebhookRefused as refused:
                db.session.rollback()
                errors = refused.errors
        return self.render_template(
            "webhooks/edit.html", form=form, webhook=webhook, errors=errors, fields=FIELDS,
            title=_l("Edit webhook") if webhook is not None else _l("New webhook"))

    def _secret_page(self, webhook: Webhook, secret: str):
        response = make_response(self.render_template(
            "webhooks/secret.html", webhook=webhook, secret=secret, title=_l("Webhook secret")))
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/toggle/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def toggle(self, pk):
        webhook = self._webhook(pk)
        service.set_active(db.session, webhook, not webhook.active, current_user())
        flash(_("The webhook was switched on.") if webhook.active
              else _("The webhook was switched off."), "info")
        return redirect(url_for("WebhooksView.index"))

    @expose("/secret/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def secret(self, pk):
        webhook = self._webhook(pk)
        secret = service.rotate_secret(db.session, webhook, current_user())
        return self._secret_page(webhook, secret)

    @expose("/deliveries")
    @has_access
    def deliveries(self):
        webhook_id = request.args.get("webhook", type=int)
        status = request.args.get("status")
        before = request.args.get("before", type=int)
        query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc())
        webhook = None
        if webhook_id is not None:
            webhook = self._webhook(webhook_id)
            query = query.where(WebhookDelivery.webhook_id == webhook_id)
        if status in STATUSES:
            query = query.where(WebhookDelivery.status == status)
        if before:
            query = query.where(WebhookDelivery.id < before)
        rows = db.session.scalars(query.limit(DELIVERIES_PER_PAGE + 1)).all()
        more = len(rows) > DELIVERIES_PER_PAGE
        rows = rows[:DELIVERIES_PER_PAGE]
        return self.render_template(
            "webhooks/deliveries.html", deliveries=rows, webhook=webhook, more=more,
            status=status, statuses=STATUSES, sources=SOURCES, event_label=catalog.label,
            local_time=local_time, excerpt=_excerpt, title=_l("Webhook deliveries"))

    @expose("/delivery/<int:pk>")
    @not_found_if_denied
    @has_access
    def delivery(self, pk):
        found = db.session.get(WebhookDelivery, pk)
        if found is None:
            abort(404)
        attempts = db.session.scalars(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id == pk).order_by(WebhookAttempt.number)).all()
        return self.render_template(
            "webhooks/delivery.html", delivery=found, attempts=attempts, statuses=STATUSES,
            sources=SOURCES, event_label=catalog.label, local_time=local_time,
            excerpt=_excerpt, title=_l("Webhook delivery"))

    @expose("/replay/<int:pk>", methods=["POST"])
    @not_found_if_denied
    @has_access
    def replay(self, pk):
        found = db.session.get(WebhookDelivery, pk)
        if found is None:
            abort(404)
        user = current_user()
        again = service.replay(db.session, found, user)
        service.take_queued()
        service.kick(getattr(user, "id", None))
        flash(_("The delivery was sent again."), "info")
        return redirect(url_for("WebhooksView.delivery", pk=again.id))


def _excerpt(text) -> str:
    """The receiver's first bytes, with personal data shapes masked."""
    return redact_text(text) if text else ""


def register_views(appbuilder) -> None:
    appbuilder.add_view(WebhooksView, r.MENU_WEBHOOKS, label=_l("Webhooks"),
                        icon="fa-plug", category=r.CATEGORY_SYSTEM,
                        category_label=_l("System"), category_icon="fa-wrench")
