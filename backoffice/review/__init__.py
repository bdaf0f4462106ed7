"""Maker-checker review (信息录入审核): change requests, the reviewer's screens and API.

``service`` holds the use cases (propose, approve, reject, withdraw) that screens, the REST API
and pipelines share; ``gate`` plugs them into the customer write paths.
"""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.fields import registry as custom_fields
    from backoffice.review import service
    from backoffice.review.api import ChangeRequestApi
    from backoffice.review.views import ReviewView
    from backoffice.security.field_hooks import register_review_rule

    register_review_rule(service.change_is_reviewed)  # the policy asks it of customer writes
    if custom_fields.reviewed_keys not in service.REVIEWED_CUSTOM_FIELD_SOURCES:
        service.REVIEWED_CUSTOM_FIELD_SOURCES.append(custom_fields.reviewed_keys)

    category = {"category": r.CATEGORY_CUSTOMERS,
                "category_label": _l("Customer management"), "category_icon": "fa-users"}
    appbuilder.add_view(ReviewView, r.MENU_PENDING_REVIEWS, label=_l("Pending reviews"),
                        href="/review/pending/", icon="fa-check-square-o", **category)
    appbuilder.add_link(r.MENU_MY_REQUESTS, label=_l("My change requests"),
                        href="/review/mine/", icon="fa-pencil-square-o", **category)
    appbuilder.add_api(ChangeRequestApi)
