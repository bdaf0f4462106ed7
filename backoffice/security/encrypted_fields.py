"""Flask-AppBuilder integration of the encrypted fields (``models.crypto``).

FAB discovers columns through the mapper, so the hybrid attributes that hold the plaintext
(``customer.id_number``) are invisible to it, while the storage columns (``id_number_enc``,
``id_number_bidx``) would be offered as ordinary text columns: searchable with LIKE, sortable,
shown. This mixin turns that round for every FAB path at once:

* the logical fields are typed columns (string, text or decimal, with their nullability,
  length and uniqueness), so forms and API schemas are generated as before;
* searchable fields (those with a blind index) get exactly one filter, FAB's own ``FilterEqual``
  (``opr: eq`` in the REST API), which the hybrid compiles to the blind index; others get none;
* storage columns are hidden from column lists, filters and sorting; ordering by an encrypted
  field is ignored (ciphertext has no order);
* when FAB selects only the listed columns (REST lists and shows), an encrypted field loads its
  ciphertext and the row's ``record_uid`` instead, in the same query.

``EncryptedSchemaConverter`` does the same for the REST API's marshmallow schemas (FAB would make
a hybrid a dump-only field, refusing it in POST and PUT).
"""
from __future__ import annotations

from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_appbuilder.models.sqla.filters import FilterEqual, SQLAFilterConverter
from marshmallow import fields, validate

from models import crypto


class EncryptedFilterConverter(SQLAFilterConverter):
    """Exact match (blind index) for searchable encrypted fields, nothing for the others."""

    conversion_table = (
        ("is_blind_indexed", [FilterEqual]),
        ("is_encrypted", []),
    ) + tuple(SQLAFilterConverter.conversion_table)


class EncryptedFieldsMixin:
    """Mix into an ``SQLAInterface`` subclass (before it) to present encrypted fields to FAB."""

    filter_converter_class = EncryptedFilterConverter

    # --- what a name is

    def encrypted_spec(self, col_name: str) -> crypto.EncryptedColumn | None:
        if not col_name or "." in col_name:
            return None
        return crypto.field_spec(self.obj.__tablename__, col_name)

    def is_encrypted(self, col_name: str) -> bool:
        return self.encrypted_spec(col_name) is not None

    def is_blind_indexed(self, col_name: str) -> bool:
        spec = self.encrypted_spec(col_name)
        return spec is not None and spec.index_column is not None

    def _storage_columns(self) -> set[str]:
        return crypto.storage_columns(self.obj.__tablename__)

    def _encrypted_leaf(self, col_name: str):
        """``(root, spec)`` when ``col_name`` is ``relation.encrypted_field``, else None."""
        if not col_name or col_name.count(".") != 1:
            return None
        root, leaf = col_name.split(".")
        if root not in self.list_properties or not self.is_relation(root):
            return None
        spec = crypto.field_spec(self.get_related_model(root).__tablename__, leaf)
        return (root, spec) if spec is not None else None

    # --- types FAB asks about

    def is_string(self, col_name: str) -> bool:
        spec = self.encrypted_spec(col_name)
        if spec is not None:
            return spec.kind != "decimal"
        return super().is_string(col_name)

    def is_text(self, col_name: str) -> bool:
        spec = self.encrypted_spec(col_name)
        if spec is not None:
            return spec.kind == "text" and spec.max_length is None
        return super().is_text(col_name)

    def is_numeric(self, col_name: str) -> bool:
        spec = self.encrypted_spec(col_name)
        if spec is not None:
            return spec.kind == "decimal"
        return super().is_numeric(col_name)

    def is_nullable(self, col_name: str) -> bool:
        spec = self.encrypted_spec(col_name)
        if spec is not None:
            return bool(self.obj.__table__.c[spec.column].nullable)
        return super().is_nullable(col_name)

    def is_unique(self, col_name: str) -> bool:
        spec = self.encrypted_spec(col_name)
        if spec is not None:
            return spec.index_column is not None and any(
                index.unique and [c.name for c in index.columns] == [spec.index_column]
                for index in self.obj.__table__.indexes)
        return super().is_unique(col_name)

    def is_property(self, col_name: str) -> bool:
        if self.is_encrypted(col_name):
            return False
        return super().is_property(col_name)

    def is_function(self, col_name: str) -> bool:
        if self.is_encrypted(col_name):
            return False
        return super().is_function(col_name)

    def get_max_length(self, col_name: str) -> int:
        spec = self.encrypted_spec(col_name)
        if spec is not None:
            return spec.max_length or -1
        return super().get_max_length(col_name)

    def get_col_default(self, col_name: str):
        if self.is_encrypted(col_name):
            return None
        return super().get_col_default(col_name)

    # --- which names FAB lists, filters and sorts

    def get_columns_list(self) -> list[str]:
        storage = self._storage_columns()
        names = [name for name in super().get_columns_list() if name not in storage]
        return names + [spec.field for spec in crypto.registered().get(self.obj.__tablename__, [])
                        if spec.field not in names]

    def get_search_columns_list(self) -> list[str]:
        storage = self._storage_columns()
        found = []
        for col_name in self.list_properties:
            if col_name in storage:
                continue
            if self.is_relation(col_name):
                found.append(col_name)
                continue
            first = self.get_property_first_col(col_name).name
            if not (self.is_pk(first) or self.is_fk(first) or self.is_image(col_name)
                    or self.is_file(col_name)):
                found.append(col_name)
        return found + [name for name in self.get_columns_list() if self.is_blind_indexed(name)]

    def get_order_columns_list(self, list_columns=None) -> list[str]:
        storage = self._storage_columns()
        return [name for name in super().get_order_columns_list(list_columns=list_columns)
                if name not in storage and not self.is_encrypted(name)
                and self._encrypted_leaf(name) is None]

    def apply_order_by(self, query, order_column, order_direction, *args, **kwargs):
        if order_column and (self.is_encrypted(order_column)
                             or order_column in self._storage_columns()
                             or self._encrypted_leaf(order_column) is not None):
            order_column = ""  # ciphertext has no order
        return super().apply_order_by(query, order_column, order_direction, *args, **kwargs)

    # --- selecting only some columns (REST lists and shows)

    def _expand_select_columns(self, select_columns):
        if not select_columns:
            return select_columns
        expanded = []
        for column in select_columns:
            spec = self.encrypted_spec(column)
            if spec is not None:
                names = [spec.column, spec.uid_column]
            else:
                leaf = self._encrypted_leaf(column)
                if leaf is None:
                    names = [column]
                else:
                    root, spec = leaf
                    names = [f"{root}.{spec.column}", f"{root}.{spec.uid_column}"]
            expanded += [name for name in names if name not in expanded]
        return expanded

    def apply_inner_select_joins(self, query, select_columns=None, aliases_mapping=None):
        return super().apply_inner_select_joins(
            query, self._expand_select_columns(select_columns), aliases_mapping)

    def apply_outer_select_joins(self, query, select_columns=None, outer_default_load=False,
                                 aliases_mapping=None):
        return super().apply_outer_select_joins(
            query, self._expand_select_columns(select_columns), outer_default_load,
            aliases_mapping)


class EncryptedSchemaConverter(Model2SchemaConverter):
    """REST schemas: an encrypted field is a plain string (or decimal) field, loadable."""

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        spec = None if column.children else crypto.field_spec(datamodel.obj.__tablename__,
                                                              column.name)
        if spec is None:
            return super()._column2field(datamodel, column, nested=nested,
                                         parent_schema_name=parent_schema_name)
        nullable = bool(datamodel.obj.__table__.c[spec.column].nullable)
        validators = []
        if spec.max_length:
            validators.append(validate.Length(max=spec.max_length))
        if column.name in self.validators_columns:
            validators.append(self.validators_columns[column.name])
        options = {"required": not nullable, "allow_none": nullable, "validate": validators}
        if spec.kind == "decimal":
            field = fields.Decimal(places=2, as_string=True, **options)
        else:
            field = fields.String(**options)
        field.unique = bool(datamodel.is_unique(column.name))
        return field
