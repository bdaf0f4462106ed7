"""Base classes for the back office's screens and APIs.

They close the gaps DESIGN lists for FAB: actions that fetch by primary key (a missing record must
answer 404, not crash), uncapped page sizes, and one permission name per entity shared by the
screen and its REST API. Record scopes themselves live below the views, on the session
(``backoffice.security.scopes``); the pre-write hooks here refuse to *create* or *move* a record
out of the writer's own scope.
"""
from __future__ import annotations

from flask import abort, current_app, request
from flask_appbuilder import ModelRestApi, ModelView, expose, has_access
from flask_babel import lazy_gettext as _l

from backoffice.errors import WriteRefused
from models.validators import InvalidValue
from backoffice.extensions import db
from backoffice.list_filters import FilterCustomerNumber, FilterStaffUsername, use_text_filter
from backoffice.pagination import KeysetListMixin
from backoffice.security import scopes
from backoffice.security.presentation import customer_of, present_row

VIEW_METHOD_PERMISSIONS = {
    "list": "read",
    "show": "read",
    "download": "read",
    "progress": "read",
    "api_read": "read",
    "api_get": "read",
    "api_column_add": "write",
    "api_column_edit": "write",
    "add": "write",
    "edit": "write",
    "api_create": "write",
    "api_update": "write",
    "delete": "delete",
    "api_delete": "delete",
    "action": "write",
    "action_post": "write",
    "mark_done": "write",
    "reveal": "reveal",
    "export": "export",
    "save_view": "read",  # a personal list layout (field set), no customer data written
}
API_METHOD_PERMISSIONS = {
    "get": "read",
    "get_list": "read",
    "info": "read",
    "post": "write",
    "put": "write",
    "delete": "delete",
}


def selected_items(items) -> list:
    """FAB hands an action one record (from a show page) or a list (from the list's checkboxes)."""
    return items if isinstance(items, list) else [items]


def choice_select(label, mapping: dict, required: bool = True):
    """A select of coded choices with translated labels; optional ones start blank."""
    from flask_appbuilder.fieldwidgets import Select2Widget
    from wtforms import SelectField
    from wtforms.validators import DataRequired, Optional

    from models.choices import choice_list

    return SelectField(
        label,
        choices=([] if required else [("", "—")]) + choice_list(mapping),
        validators=[DataRequired()] if required else [Optional()],
        widget=Select2Widget(),
    )


def checkboxes(labels: dict, *names: str) -> dict:
    """Plain checkboxes for NOT NULL booleans (FAB would make them required, so unticked fails)."""
    from wtforms import BooleanField

    return {name: BooleanField(labels[name], default=False) for name in names}


def relation_choices(model) -> tuple:
    """``((pk, label), ...)`` of a small configuration table (branches, products, ...), from the
    process's cache while the table's counter is unchanged (``backoffice.config_cache``)."""
    from flask_babel import get_locale

    from backoffice import config_cache

    table = model.__tablename__

    def load():
        from sqlalchemy import inspect, select

        pk = inspect(model).primary_key[0]
        order = [getattr(model, name) for name in ("code", "name") if hasattr(model, name)]
        rows = db.session.execute(select(model).order_by(*order, pk)).scalars().all()
        return tuple((str(getattr(row, pk.key)), str(row)) for row in rows)

    return config_cache.cached("relation_choices", (table,), load, key=(table, str(get_locale())))


class CachedRelationSelect:
    """A search form's select of a related configuration record, without FAB's per-page query.

    FAB's relation filter renders a select fed by ``count(*)`` plus a read of the whole related
    table on every list page; this one lists the cached choices. The filter itself is FAB's
    (it receives the chosen primary key).
    """

    def __new__(cls, label, model):
        from flask_appbuilder.fieldwidgets import Select2Widget
        from wtforms import SelectField
        from wtforms.validators import Optional

        return SelectField(label, choices=lambda: [("", "")] + list(relation_choices(model)),
                           validators=[Optional()], widget=Select2Widget(), validate_choice=False)


def cached_relation_searches(view) -> None:
    """Give each many-to-one search column onto a watched configuration table a cached select."""
    from models.config_version import WATCHED_TABLES

    extra = dict(view.search_form_extra_fields or {})
    for column in view.search_columns or ():
        if column in extra or not view.datamodel.is_relation(column) \
                or not view.datamodel.is_relation_many_to_one(column):
            continue
        model = view.datamodel.get_related_model(column)
        if model.__tablename__ in WATCHED_TABLES:
            extra[column] = CachedRelationSelect(view.label_columns.get(column, column), model)
    view.search_form_extra_fields = extra


class OutOfScope(WriteRefused):
    """A write would leave the record outside the writer's scope."""


def check_write_scope(item) -> None:
    """Refuse a write that would put a customer record outside the writer's scope."""
    customer = customer_of(item)
    if customer is not None and not scopes.current().permits_customer(customer):
        raise OutOfScope(
            {"customer": _l("You may only record data about customers in your own scope.")}
        )


EXPORT_HANDLER = "crm_export_handler"
"""The ``app.extensions`` key of the list export handler: ``handler(view, fmt) -> response``."""


def register_export_handler(app, handler) -> None:
    """Give every exportable list's ``export`` route its handler (the exports feature does, at
    start-up), so the base class keeps the route and its permission but no export code."""
    app.extensions[EXPORT_HANDLER] = handler


class CrmModelView(KeysetListMixin, ModelView):
    """A ModelView with capped page size, keyset pages, shared permissions and 404 for unseen
    records."""

    method_permission_name = VIEW_METHOD_PERMISSIONS
    page_size = 25
    customer_number_search = False
    """Search the ``customer`` relation by customer number instead of a whole-table select."""
    staff_username_search: tuple = ()
    """Staff relations (``owner``, ``assignee``) searched by username instead of a select."""

    def _init_properties(self):
        super()._init_properties()
        if self.customer_number_search:
            use_text_filter(self, "customer", FilterCustomerNumber, _l("Customer"))
        for column in self.staff_username_search:
            use_text_filter(self, column, FilterStaffUsername, self.label_columns[column])
        cached_relation_searches(self)

    def _get_list_widget(self, *args, page_size=None, **kwargs):
        cap = current_app.config["CRM_MAX_PAGE_SIZE"]
        if page_size is not None and page_size > cap:
            page_size = cap
        return super()._get_list_widget(*args, page_size=page_size, **kwargs)

    @expose("/action/<string:name>/<pk>", methods=["POST"])
    def action(self, name, pk):
        """FAB crashes on an unknown action and hands ``None`` for an unseen pk: 404 both.

        POST only: the show page's action button posts FAB's hidden form (with its CSRF token),
        and FAB refuses a GET mutation while CSRF protection is on."""
        if name not in self.actions:
            abort(404)
        if self.datamodel.get(self._deserialize_pk_if_composite(pk)) is None:
            abort(404)
        return super().action(name, pk)

    list_template = "crm_list.html"
    exportable = False
    """List screens of customer data offer CSV/XLSX exports (``can_export``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_args = {**(self.extra_args or {}), "export_view": self}
        if self.exportable and "can_export" not in self.base_permissions:
            # A read-only list that names its ``base_permissions`` (``["can_read"]``) would
            # otherwise refuse its own export to every role granted ``can_export``: the link
            # and the export request form are offered, the download is a 403.
            self.base_permissions = [*self.base_permissions, "can_export"]

    @expose("/export/<string:fmt>")
    @has_access
    def export(self, fmt):
        """The filtered list as a file, built by the handler the exports feature registered
        (:func:`register_export_handler`); without one, or on a list that offers no export,
        there is nothing here (404)."""
        handler = current_app.extensions.get(EXPORT_HANDLER)
        if not self.exportable or handler is None:
            abort(404)
        return handler(self, fmt)

    def list_filters(self, filters):
        """The filters a list (and its export) applies: FAB's own, plus what a subclass adds
        (custom-field conditions, ``backoffice.fields.screens``)."""
        return filters

    @expose("/delete/<pk>", methods=["GET", "POST"])
    @has_access
    def delete(self, pk):
        """Look the record up first, so an unseen record is a 404 whatever the method."""
        if self.datamodel.get(self._deserialize_pk_if_composite(pk)) is None:
            abort(404)
        return super().delete(pk)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        """The bulk form: every selected pk must be visible, or the whole request is a 404."""
        if request.form.get("action") not in self.actions:
            abort(404)
        pks = request.form.getlist("rowid")
        for pk in pks:
            if self.datamodel.get(self._deserialize_pk_if_composite(pk)) is None:
                abort(404)
        return super().action_post()

    def pre_add(self, item):
        check_write_scope(item)

    def pre_update(self, item):
        check_write_scope(item)


class CrmModelApi(ModelRestApi):
    """A ModelRestApi sharing the screen's permission name and refusing out-of-scope writes."""

    method_permission_name = API_METHOD_PERMISSIONS
    allow_browser_login = True

    def pre_add(self, item):
        check_write_scope(item)

    def pre_update(self, item):
        check_write_scope(item)

    def pre_get(self, data):
        """Mask and hide in the single-record response exactly as on the screens."""
        item = self.datamodel.get(data["id"])
        if item is not None:
            present_row(item, data["result"])

    def pre_get_list(self, data):
        """The same for every row of a list response (one query for the page's records)."""
        if not data.get("ids"):
            return
        pk = self.datamodel.get_pk()
        items = {
            item.id: item
            for item in self.datamodel.session.query(self.datamodel.obj)
            .filter(pk.in_(data["ids"])).all()
        }
        for record_id, row in zip(data["ids"], data["result"]):
            if record_id in items:
                present_row(items[record_id], row)

    def post_headless(self):
        return self._refusals_as_422(super().post_headless)

    def put_headless(self, pk):
        return self._refusals_as_422(lambda: super(CrmModelApi, self).put_headless(pk))

    def _refusals_as_422(self, write):
        """A refused write is the caller's error (422 with field messages), never a 500; an
        accepted one answers with the record as the caller may see it (masked), not as sent."""
        try:
            response = write()
        except WriteRefused as refused:
            db.session.rollback()
            return self.response_422(message=refused.errors)
        except InvalidValue as invalid:  # a model's validation hook, met while loading
            db.session.rollback()
            return self.response_422(message={invalid.field: str(invalid)})
        return self._present_written(response)

    def _present_written(self, response):
        """FAB echoes the written values back in ``result``: mask them like any read."""
        if response.status_code not in (200, 201):
            return response
        data = response.get_json(silent=True) or {}
        result = data.get("result")
        pk = data.get("id") or (request.view_args or {}).get("pk")
        if not isinstance(result, dict) or pk is None:
            return response
        item = self.datamodel.get(pk)
        if item is None:
            return response
        present_row(item, result)
        response.set_data(current_app.json.dumps(data))
        return response
