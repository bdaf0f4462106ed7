"""Custom fields (自定义字段): definitions, the typed registry, values, filters and field sets.

``registry.field_catalog(entity)`` is what other features read; ``values`` checks and stores
values; ``filters`` compiles searches to SQL; ``changes`` converts stored values when a field's
type or choices change; ``service`` holds the definition use cases; ``views`` the admin screens.
"""
from flask_babel import lazy_gettext as _l

from config import roles as r


def register(appbuilder) -> None:
    """The admin screens and the core's questions about custom fields. (The operation log
    audits the definitions and field sets, and review asks which fields are reviewed: both rooms
    sit above this one and plug themselves in.)"""
    from backoffice.fields import hooks, key_rotation, registry
    from backoffice.fields.views import CustomFieldView, FieldSetView

    registry.install_invalidation()
    hooks.install()  # the policy, masking and presentation read custom fields through the core
    key_rotation.register()  # `flask crm keys rotate/status` re-seal the sensitive values
    system = dict(category=r.CATEGORY_SYSTEM, category_label=_l("System"),
                  category_icon="fa-wrench")
    appbuilder.add_view(CustomFieldView, r.MENU_CUSTOM_FIELDS, label=_l("Custom fields"),
                        icon="fa-list-alt", **system)
    appbuilder.add_view(FieldSetView, r.MENU_FIELD_SETS, label=_l("Field sets"),
                        icon="fa-columns", **system)
