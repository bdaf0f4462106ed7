"""The custom-field answers the core asks for (``backoffice.security.field_hooks``).

The policy, masking, redaction and presentation may not import this feature, so this feature
hands them its catalogue and display when the app starts (``backoffice.fields.register``).
Every call goes to the registry and display modules as they are at call time.
"""
from __future__ import annotations

from backoffice.fields import access, display, registry


class Catalogue:
    """:class:`backoffice.security.field_hooks.CustomFields`, read from the definitions."""

    entities = tuple(registry.ENTITY_TABLES)

    def spec(self, entity, key):
        return registry.field_spec(entity, key, include_archived=True)

    def specs(self, entity):
        return registry.field_catalog(entity, include_archived=True)

    def entity_of(self, record):
        return registry.entity_of(record)

    def shown(self, record, spec):
        return display.shown(record, spec)

    def document(self, record, entity):
        return display.api_document(record, access.visible_specs(entity))


def install() -> None:
    from backoffice.security.field_hooks import register_custom_fields

    register_custom_fields(Catalogue())
