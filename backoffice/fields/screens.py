"""Screens of any entity with custom fields: :class:`CustomFieldsViewMixin`.

Mixed into a ``CrmModelView`` (before it) with ``custom_field_entity = "customer"`` (or
"interaction", "account", "campaign"), it makes the view's forms, columns, labels, show page and
list follow the registry on every request, with no restart (DESIGN pitfall 4):

* ``add_form``/``edit_form`` are properties deriving a per-request form with the fields the user
  may edit (``forms.with_custom_fields``); ``prefill_form`` shows current values; ``pre_add`` and
  ``pre_update`` store the values the form's check accepted, before the subclass's own rules and
  the maker-checker gate run (which then see them like any other change);
* ``list_columns``, ``label_columns``, ``show_columns``, ``show_fieldsets``, ``add_columns``,
  ``edit_columns`` and ``base_order`` become per-request properties: the class's own values are
  the base, custom columns and the chosen field set are added in a request;
* the list (and its export) applies custom-field filters and a field set's default filters and
  sort as SQL (``listing``), and ``/save-view`` stores the user's personal field set.
"""
from __future__ import annotations

from flask import abort, flash, g, has_request_context, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l

from backoffice.fields import forms, listing
from backoffice.fields.access import visible_specs
from backoffice.fields.display import column_name
from backoffice.fields.filters import operators_for
from backoffice.fields.registry import builtin_columns, field_catalog

DYNAMIC = ("list_columns", "label_columns", "show_columns", "show_fieldsets", "add_columns",
           "edit_columns", "base_order")


class _SqlCondition(BaseFilter):
    """A compiled custom-field condition riding in FAB's filter list (value: the SQL clause)."""

    name = "custom fields"
    arg_name = "custom_fields"

    def apply(self, query, value):
        return query.filter(value)


class _SqlOrder(BaseFilter):
    """A field set's sort on a custom field (value: the ORDER BY expression)."""

    name = "custom field order"
    arg_name = "custom_order"

    def apply(self, query, value):
        return query.order_by(value)


def _base(view, name):
    if f"_base_{name}" in view.__dict__:
        return view.__dict__[f"_base_{name}"]
    return getattr(type(view), f"_base_{name}", None)


def _dynamic(name):
    def getter(self):
        base = _base(self, name)
        if not has_request_context() or not self.__dict__.get("_custom_ready"):
            return base
        return getattr(self, f"_custom_{name}")(base)

    def setter(self, value):
        self.__dict__[f"_base_{name}"] = value

    return property(getter, setter)


class CustomFieldsViewMixin:
    custom_field_entity: str | None = None
    custom_columns_by_default = True
    """Without a field set, the list shows the view's columns followed by the visible fields."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in DYNAMIC:
            own = cls.__dict__.get(name)
            if isinstance(own, property):
                continue
            if name in cls.__dict__:
                setattr(cls, f"_base_{name}", own)
            elif f"_base_{name}" not in dir(cls):
                inherited = next((k.__dict__[name] for k in cls.__mro__[1:]
                                  if name in k.__dict__
                                  and not isinstance(k.__dict__[name], property)), None)
                setattr(cls, f"_base_{name}", inherited)
            setattr(cls, name, _dynamic(name))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.__dict__["_custom_ready"] = True

    # --- forms ---------------------------------------------------------------------------------

    @property
    def add_form(self):
        base = self.__dict__.get("_base_add_form")
        if base is None or not has_request_context():
            return base
        return forms.with_custom_fields(base, self.custom_field_entity, editing=False)

    @add_form.setter
    def add_form(self, form):
        self.__dict__["_base_add_form"] = form

    @property
    def edit_form(self):
        base = self.__dict__.get("_base_edit_form")
        if base is None or not has_request_context():
            return base
        return forms.with_custom_fields(base, self.custom_field_entity, editing=True,
                                        load_record=self._record_being_edited)

    @edit_form.setter
    def edit_form(self, form):
        self.__dict__["_base_edit_form"] = form

    def _record_being_edited(self):
        pk = (request.view_args or {}).get("pk")
        return self.datamodel.get(pk) if pk is not None else None

    def _custom_add_columns(self, base):
        return list(base or []) + [forms.form_field_name(s) for s in self._editable()]

    def _custom_edit_columns(self, base):
        """The editable fields, and those the user sees but may not change (read-only)."""
        return list(base or []) + [forms.form_field_name(s) for s in visible_specs(
            self.custom_field_entity)]

    def _editable(self):
        from backoffice.fields.access import editable_specs

        return editable_specs(self.custom_field_entity)

    def prefill_form(self, form, pk):
        super().prefill_form(form, pk)
        item = self.datamodel.get(pk)
        if item is not None:
            forms.prefill(form, item, self.custom_field_entity)

    def pre_add(self, item):
        super().pre_add(item)  # the scope check first: nothing is flushed for a refused write
        self._store_custom(item, new=True)

    def pre_update(self, item):
        super().pre_update(item)
        self._store_custom(item, new=False)

    def _store_custom(self, item, new: bool):
        clean = forms.take_checked_values(self.custom_field_entity)
        if clean is None and not new:
            return
        forms.store(item, self.custom_field_entity, clean or {}, new=new)

    # --- labels, show page ---------------------------------------------------------------------

    def _custom_label_columns(self, base):
        cache = g.setdefault("_crm_custom_labels", {})
        key = id(self)
        if key not in cache:
            labels = dict(base or {})
            for spec in field_catalog(self.custom_field_entity):
                labels[column_name(spec)] = spec.label()
                labels[forms.form_field_name(spec)] = spec.label()
            cache[key] = labels
        return cache[key]

    def _custom_show_columns(self, base):
        return list(base or []) + [column_name(s) for s in visible_specs(
            self.custom_field_entity)]

    def _custom_show_fieldsets(self, base):
        if not base:
            return base
        sections: dict = {}
        for spec in visible_specs(self.custom_field_entity):
            title = spec.section or str(_l("Custom fields"))
            sections.setdefault(title, []).append(column_name(spec))
        return list(base) + [(title, {"fields": cols}) for title, cols in sections.items()]

    # --- list: columns, field sets, filters, sort ---------------------------------------------

    def _list_state(self) -> dict:
        """The chosen set, the columns, the custom conditions and sort of this request."""
        cache = g.setdefault("_crm_list_state", {})
        if id(self) in cache:
            return cache[id(self)]
        entity = self.custom_field_entity
        field_set = listing.chosen_set(entity, request.args)
        base_columns = list(_base(self, "list_columns") or [])
        if field_set is not None:
            allowed = set(base_columns) | set(builtin_columns(entity))
            columns = listing.set_columns(entity, field_set, allowed) or base_columns
        else:
            columns = base_columns + ([column_name(s) for s in visible_specs(entity)
                                       if s.type != "long_text"]
                                      if self.custom_columns_by_default else [])
        parsed = listing.parse_filter_args(entity, request.args)
        conditions = list(parsed.conditions)
        if field_set is not None:
            conditions = list(field_set.filters or []) + conditions
        errors = list(parsed.errors)
        condition = listing.compile_conditions(entity, conditions, errors)
        order = None
        builtin_order = None
        if field_set is not None and field_set.sort_column:
            key = field_set.sort_column
            if key in {s.key for s in field_catalog(entity)}:
                order = listing.order_expression(entity, key, field_set.sort_direction)
            elif key in builtin_columns(entity):
                builtin_order = (key, field_set.sort_direction)
        state = {"set": field_set, "columns": columns, "condition": condition, "order": order,
                 "builtin_order": builtin_order, "errors": errors, "args": parsed.args}
        cache[id(self)] = state
        return state

    def _custom_list_columns(self, base):
        if request.endpoint and request.endpoint.split(".")[-1] in ("list", "export"):
            return self._list_state()["columns"]
        return base

    def _custom_base_order(self, base):
        if request.endpoint and request.endpoint.split(".")[-1] in ("list", "export"):
            return self._list_state()["builtin_order"] or base
        return base

    def list_filters(self, filters):
        """FAB's filters plus this request's custom-field condition and sort (SQL)."""
        state = self._list_state()
        for message in state["errors"]:
            flash(message, "warning")
        state["errors"] = []
        if state["condition"] is None and state["order"] is None:
            return filters
        joined = filters.copy()
        if state["condition"] is not None:
            joined.filters.append(_SqlCondition("id", self.datamodel))
            joined.values.append(state["condition"])
        if state["order"] is not None:
            joined.filters.append(_SqlOrder("id", self.datamodel))
            joined.values.append(state["order"])
        return joined

    def _get_list_widget(self, filters, *args, **kwargs):
        return super()._get_list_widget(self.list_filters(filters), *args, **kwargs)

    def custom_list_context(self) -> dict:
        """What crm_list.html shows above the list: sets to pick, filter inputs, save form."""
        from flask_wtf.csrf import generate_csrf

        entity = self.custom_field_entity
        state = self._list_state()
        specs = [s for s in visible_specs(entity) if operators_for(s)]
        column_keys = [c[len("custom_fields."):] if c.startswith("custom_fields.") else c
                       for c in state["columns"]]
        return {"sets": listing.available_sets(entity), "chosen": state["set"],
                "filters": specs, "args": request.args, "columns": state["columns"],
                "csrf": generate_csrf(), "column_keys": column_keys,
                "column_picker": self._column_picker(column_keys),
                "conditions_args": state["args"]}

    def _column_picker(self, chosen: list[str]):
        """The save-view form's columns, by label: this screen's own and the visible fields.

        The list is the same for every request of one language, set of roles and choice of
        columns while the field definitions are unchanged, so it is built once per process
        for each (``backoffice.config_cache``): ~40 checkbox rows, each escaped and formatted,
        cost more than the page's query. Its script tag carries this request's CSP nonce and
        is written here, once per page, never from the cache.
        """
        from flask_babel import get_locale

        from backoffice import config_cache
        from backoffice.fields.access import current_roles
        from backoffice.fields.columns import _script

        script = _script()  # first: the cached list is then built without one
        roles = current_roles()
        key = (self.custom_field_entity, type(self).__name__, str(get_locale()),
               tuple(sorted(roles)) if roles is not None else None, tuple(chosen))
        return script + config_cache.cached("column_picker", ("custom_field_definition",),
                                            lambda: self._build_column_picker(chosen), key=key)

    def _build_column_picker(self, chosen: list[str]):
        from backoffice.fields.columns import column_options, picker_html

        entity = self.custom_field_entity
        own = [name for name in _base(self, "list_columns") or []]
        labels = self.label_columns
        options = column_options(entity, visible_specs(entity))
        offered = [(name, str(labels[name])) for name in own if name in labels]
        offered += [(key, label) for key, label in options if key not in own]
        known = {key for key, _label in offered}
        return picker_html("columns", [(entity, "", offered)],
                           [key for key in chosen if key in known], input_id="save-view-columns")

    @expose("/save-view", methods=["POST"])
    @has_access
    def save_view(self):
        """Save the columns, filters and sort the user typed as a personal field set."""
        from flask_wtf.csrf import CSRFError, validate_csrf

        try:
            validate_csrf(request.form.get("csrf_token"))
        except CSRFError:
            abort(400)
        except Exception:  # noqa: BLE001 - wtforms ValidationError: a missing or stale token
            abort(400)
        entity = self.custom_field_entity
        # The picker posts one ``columns`` value per ticked column, in the order shown.
        columns = [c.strip() for value in request.form.getlist("columns")
                   for c in value.split(",") if c.strip()]
        parsed = listing.parse_filter_args(entity, request.form)
        saved, errors = listing.save_personal_set(
            entity, request.form.get("name"), columns, parsed.conditions + [],
            request.form.get("sort_column"), request.form.get("sort_direction") or "asc")
        for message in parsed.errors:
            flash(message, "warning")
        if saved is None:
            labels = {"name": _l("Name"), "columns": _l("Columns"), "filters": _l("Filters"),
                      "sort_column": _l("Sort by")}
            for name, message in errors.items():
                flash(f"{labels.get(name, name)}: {message}", "danger")
            return redirect(url_for(".list"))
        flash(_l("View %(name)s saved.", name=saved.name), "success")
        return redirect(url_for(".list", **{listing.FIELD_SET_ARG: saved.id}))
