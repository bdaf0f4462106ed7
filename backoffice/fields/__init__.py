"""Custom fields (自定义字段): definitions, the typed registry, values, filters and field sets.

``registry.field_catalog(entity)`` is what other features read; ``values`` checks and stores
values; ``filters`` compiles searches to SQL; ``changes`` converts stored values when a field's
type or choices change; ``service`` holds the definition use cases; ``views`` the admin screens.
"""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    from backoffice.audit.hooks import audit_model
    from backoffice.fields import hooks, registry
    from backoffice.fields.views import CustomFieldView, FieldSetView
    from backoffice.review import service as review
    from models.fields import CustomFieldDefinition, FieldSet

    registry.install_invalidation()
    hooks.install()  # the policy, masking and presentation read custom fields through the core
    audit_model(CustomFieldDefinition, entity="CustomField", config=True)
    audit_model(FieldSet, entity="FieldSet", config=True)
    if registry.reviewed_keys not in review.REVIEWED_CUSTOM_FIELD_SOURCES:
        review.REVIEWED_CUSTOM_FIELD_SOURCES.append(registry.reviewed_keys)
    system = dict(category=r.CATEGORY_SYSTEM, category_label=_l("System"),
                  category_icon="fa-wrench")
    appbuilder.add_view(CustomFieldView, r.MENU_CUSTOM_FIELDS, label=_l("Custom fields"),
                        icon="fa-list-alt", **system)
    appbuilder.add_view(FieldSetView, r.MENU_FIELD_SETS, label=_l("Field sets"),
                        icon="fa-columns", **system)
