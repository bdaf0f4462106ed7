"""FAB's list search widget with its form inputs drawn once per process, not on every page.

FAB's ``SearchWidget`` renders every input of the search form (one per search column, the
branch select with all its options, the date pickers) and the filter names on every list
page, to hand them to its script as JSON; on the customer list that was a tenth of the page's
CPU. For a GET the form is unbound (FAB's ``refresh()`` without form data), so the inputs only
change with the language and the configuration tables whose rows fill selects (branches,
products: ``backoffice.config_cache`` watches them); they are kept per view form, language,
those tables' counters and whether the date picker script was already on the page.

A view opts in (``search_widget = CachedSearchWidget``) when no input of its search form lists
records a user's scope decides: a form with a query-fed select (FAB's ``QuerySelectField``)
is drawn every time whatever the view says, since its options would be one user's records.

The one request-bound piece is the picker script's CSP nonce (``backoffice.pickers.assets``,
written into the first date input of the page): it is stored as a marker and this request's
nonce put in, and the "script written" flag is set as drawing the inputs would have set it.
The active filters (the request's own) are worked out every time, as FAB does.
"""
from __future__ import annotations

from flask import g, request
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.widgets import SearchWidget
from flask_babel import get_locale

NONCE_MARK = "\x00crm-nonce\x00"


class CachedSearchWidget(SearchWidget):
    def __call__(self, **kwargs):
        form = self.template_args["form"]
        include = tuple(self.template_args["include_cols"])
        if request.method != "GET" or any(isinstance(form[col], QuerySelectField)
                                          for col in include):
            return super().__call__(**kwargs)
        from backoffice import config_cache, pickers
        from backoffice.security.headers import csp_nonce
        from models.config_version import WATCHED_TABLES

        written = bool(g.get(pickers._G_ASSETS))
        key = (type(form), include, str(get_locale()), written)
        labels, inputs, names, writes = config_cache.cached(
            "search_widget", WATCHED_TABLES, lambda: self._parts(form, include, written),
            key=key)
        if writes:
            g.setdefault(pickers._G_ASSETS, True)
        nonce = csp_nonce() if any(NONCE_MARK in html for html in inputs.values()) else None
        kwargs["label_columns"] = dict(labels)
        kwargs["form_fields"] = {col: html.replace(NONCE_MARK, nonce) if nonce else html
                                 for col, html in inputs.items()}
        kwargs["search_filters"] = {col: list(flts) for col, flts in names.items()}
        kwargs["active_filters"] = self.filters.get_filters_values_tojson()
        return super(SearchWidget, self).__call__(**kwargs)

    def _parts(self, form, include, written):
        """(labels, input HTML, filter names, whether the picker script was written), as
        FAB's ``SearchWidget`` works them out, with the nonce replaced by a marker."""
        from flask_appbuilder._compat import as_unicode

        from backoffice import pickers
        from backoffice.security.headers import csp_nonce

        search_filters = self.filters.get_search_filters()
        nonce = csp_nonce()
        labels, inputs, names = {}, {}, {}
        for col in include:
            labels[col] = as_unicode(form[col].label.text)
            inputs[col] = str(form[col]()).replace(nonce, NONCE_MARK)
            names[col] = tuple(as_unicode(flt.name) for flt in search_filters[col])
        writes = not written and bool(g.get(pickers._G_ASSETS))
        return labels, inputs, names, writes
