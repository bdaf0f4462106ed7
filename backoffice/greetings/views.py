"""Screens: occasions, templates and offers (configuration), and the dispatch ledger."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from backoffice.datamodel import CrmInterface
from backoffice.formatting import choice_label, local_time
from backoffice.greetings import render
from backoffice.messaging import registry as message_channels
from backoffice.views_base import CrmModelView, checkboxes, choice_select
from config import roles as r
from models import choices as c
from models.greetings import (GREETING_CHANNELS, GreetingDispatch, GreetingTemplate, Occasion,
                              Offer)

KINDS = {"birthday": _l("Birthday"), "anniversary": _l("Account-opening anniversary"),
         "custom_date": _l("Custom date field"), "lunar_festival": _l("Lunar festival")}
CHANNELS = message_channels.labels(GREETING_CHANNELS)  # as each channel module names itself
STATUSES = {"pending": lazy_pgettext("message status", "Pending"), "sending": _l("Sending"), "sent": _l("Sent"),
            "deferred": _l("Deferred (quiet hours)"), "retry": _l("Waiting to retry"),
            "failed": _l("Failed"), "cancelled": _l("Cancelled")}
LANGUAGES = {"zh": "中文", "en": "English"}
LABELS = {
    "code": _l("Code"), "name": _l("Name"), "kind": _l("Kind"), "field_key": _l("Date field"),
    "lunar_month": _l("Lunar month"), "lunar_day": _l("Lunar day"),
    "lead_days": _l("Days ahead"), "channel_order": _l("Channel order"),
    "active": lazy_pgettext("switched on", "Active"), "occasion": _l("Occasion"), "tier": _l("Tier"),
    "language": _l("Language"), "channel": _l("Channel"), "subject": _l("Subject"),
    "body": _l("Text"), "title": _l("Title"), "code_prefix": _l("Code prefix"),
    "valid_from": _l("Valid from"), "valid_until": _l("Valid until"),
    "customer": _l("Customer"), "occasion_date": _l("Occasion date"), "status": _l("Status"),
    "attempts": _l("Attempts"), "next_attempt_at": _l("Next attempt"),
    "offer_code": _l("Offer code"), "last_error": _l("Last error"), "sent_at": _l("Sent at"),
    "created_at": _l("Created at"),
}


def _channel_order(form, field):
    unknown = [p for p in (field.data or "").split(",") if p.strip() not in CHANNELS]
    if unknown or not (field.data or "").strip():
        raise ValidationError(_l("Use channels separated by commas: email, sms, phone."))


def _placeholders(form, field):
    problems = render.template_problems(field.data)
    if problems:
        raise ValidationError("; ".join(problems))


class OccasionView(CrmModelView):
    datamodel = CrmInterface(Occasion)
    class_permission_name = "Occasion"
    route_base = "/greetings/occasions"
    list_title = _l("Occasions")
    label_columns = LABELS
    list_columns = ["code", "name", "kind", "lead_days", "channel_order", "active"]
    add_columns = edit_columns = ["code", "name", "kind", "field_key", "lunar_month",
                                  "lunar_day", "lead_days", "channel_order", "active"]
    show_columns = add_columns
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": choice_select(_l("Kind"), KINDS),
        "lead_days": IntegerField(_l("Days ahead"), default=0,
                                  validators=[NumberRange(0, 60)]),
        "lunar_month": IntegerField(_l("Lunar month"), validators=[Optional(),
                                                                  NumberRange(1, 12)]),
        "lunar_day": IntegerField(_l("Lunar day"), validators=[Optional(), NumberRange(1, 30)]),
        "channel_order": StringField(_l("Channel order"), default="email,sms",
                                     validators=[DataRequired(), _channel_order],
                                     description=_l("First channel the customer consented "
                                                    "to wins: email, sms, phone")),
        **checkboxes(LABELS, "active"),
    }
    formatters_columns = {"kind": choice_label(KINDS)}


class GreetingTemplateView(CrmModelView):
    datamodel = CrmInterface(GreetingTemplate)
    class_permission_name = "GreetingTemplate"
    route_base = "/greetings/templates"
    list_title = _l("Greeting templates")
    label_columns = LABELS
    list_columns = ["occasion", "tier", "language", "channel", "subject"]
    add_columns = edit_columns = show_columns = ["occasion", "tier", "language", "channel",
                                                 "subject", "body"]
    description = ", ".join("{" + k + "}" for k in render.PLACEHOLDERS)
    add_form_extra_fields = edit_form_extra_fields = {
        "tier": choice_select(_l("Tier"), c.TIERS, required=False),
        "language": choice_select(_l("Language"), LANGUAGES),
        "channel": choice_select(_l("Channel"), CHANNELS, required=False),
        "subject": StringField(_l("Subject"), validators=[Optional(), _placeholders]),
        "body": StringField(_l("Text"), validators=[DataRequired(), _placeholders],
                            description=description),
    }

    def pre_add(self, item):
        item.tier, item.channel = item.tier or None, item.channel or None
        super().pre_add(item)

    pre_update = pre_add


class OfferView(CrmModelView):
    datamodel = CrmInterface(Offer)
    class_permission_name = "Offer"
    route_base = "/greetings/offers"
    list_title = _l("Greeting offers")
    label_columns = LABELS
    list_columns = ["title", "tier", "occasion", "code_prefix", "valid_from", "valid_until"]
    add_columns = edit_columns = show_columns = ["title", "tier", "occasion", "code_prefix",
                                                 "valid_from", "valid_until"]
    add_form_extra_fields = edit_form_extra_fields = {"tier": choice_select(_l("Tier"), c.TIERS)}
    formatters_columns = {"tier": choice_label(c.TIERS)}

    def pre_add(self, item):
        if item.valid_from and item.valid_until and item.valid_from > item.valid_until:
            raise ValueError(_l("The offer must start before it ends."))
        super().pre_add(item)

    pre_update = pre_add


class GreetingDispatchView(CrmModelView):
    """The send ledger of the customers in scope: read-only, failures visible."""

    exportable = True
    datamodel = CrmInterface(GreetingDispatch)
    class_permission_name = "GreetingDispatch"
    route_base = "/greetings/dispatches"
    list_title = _l("Greetings sent")
    base_permissions = ["can_read"]
    label_columns = LABELS
    list_columns = ["occasion_date", "customer", "occasion", "channel", "status", "attempts",
                    "sent_at"]
    show_columns = ["customer", "occasion", "occasion_date", "channel", "status", "attempts",
                    "next_attempt_at", "subject", "body", "offer_code", "last_error", "sent_at",
                    "created_at"]
    search_columns = ["customer", "occasion_date", "status", "channel"]
    customer_number_search = True
    base_order = ("id", "desc")
    formatters_columns = {"status": choice_label(STATUSES), "channel": choice_label(CHANNELS),
                          "sent_at": local_time, "created_at": local_time,
                          "next_attempt_at": local_time}


def register_views(appbuilder) -> None:
    category = dict(category=r.CATEGORY_SERVICE, category_label=_l("Service"),
                    category_icon="fa-comments")
    appbuilder.add_view(GreetingDispatchView, r.MENU_GREETINGS_SENT,
                        label=_l("Greetings sent"), icon="fa-envelope", **category)
    appbuilder.add_view(OccasionView, r.MENU_OCCASIONS, label=_l("Occasions"),
                        icon="fa-birthday-cake", **category)
    appbuilder.add_view(GreetingTemplateView, r.MENU_GREETING_TEMPLATES,
                        label=_l("Greeting templates"), icon="fa-file-text", **category)
    appbuilder.add_view(OfferView, r.MENU_GREETING_OFFERS, label=_l("Greeting offers"),
                        icon="fa-gift", **category)
