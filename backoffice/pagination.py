"""Keyset ("seek") pagination for the list screens: a deep page costs what the first one costs.

FAB pages with ``OFFSET page * size``: the database reads and throws away every row before the
page, so page 4,000 of a million customers reads 100,000 rows (and ``backoffice.datamodel`` had
to stop offsets at the count cap, leaving deeper rows unreachable except by narrowing filters).
Here the first ``CRM_LIST_NUMBERED_ROWS`` rows keep FAB's numbered pages (small offsets, and a
person can jump to page 3); past them the list moves by *keys*: the "next" link carries the
sort key of the page's last row (the order column's value and the primary key, the tie-breaker
FAB already orders by), and the page is ``WHERE (col, id) > (:value, :id) ORDER BY col, id
LIMIT size + 1``, one index range scan wherever it starts. "Previous" carries the first row's key
and seeks the other way.

A key is only honoured for the order it was made for (column and direction are in it): after a
click on a column header the list starts again at the top. A key that cannot be read (edited
by hand, truncated) is refused with a message and the first page is shown; it never reaches
the database unparsed. Orders that cannot be seeked (a relation's column, a nullable column,
a computed property) keep the numbered pages and the capped offset.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app, flash, request, url_for
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext

from models.validators import ordinary_number

DEFAULT_NUMBERED_ROWS = 500
AFTER = "after_"
ROW_ORDER_ARG = "custom_order"  # a filter that orders rows (backoffice.fields.screens)
BEFORE = "before_"


def numbered_rows() -> int:
    """How many rows from the top are reached by numbered pages (``CRM_LIST_NUMBERED_ROWS``)."""
    return int(current_app.config["CRM_LIST_NUMBERED_ROWS"])


class BadKey(ValueError):
    """A page key that is not one this module wrote."""


@dataclass(frozen=True)
class Seek:
    """Where a keyset page starts: after (or, ``backwards``, before) the row with this key."""

    column: str
    direction: str
    value: Any
    pk: int
    backwards: bool = False


# --- keys in URLs ---------------------------------------------------------------------------

def _tagged(value) -> list:
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, dt.datetime):
        return ["t", value.isoformat()]
    if isinstance(value, dt.date):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    if isinstance(value, str):
        return ["s", value]
    raise BadKey(f"cannot page on a {type(value).__name__} value")


def _bigint(value) -> bool:
    """An integer a BIGINT column can hold: keys travel in the URL, unsigned, and a larger one
    would overflow in the database driver rather than find no row."""
    return isinstance(value, int) and not isinstance(value, bool) and \
        -2 ** 63 <= value < 2 ** 63


def _untagged(tag, value):
    try:
        if tag == "b" and isinstance(value, bool):
            return value
        if tag == "i" and _bigint(value):
            return value
        if tag == "t" and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if tag == "d" and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if tag == "n" and isinstance(value, str) and ordinary_number(number := Decimal(value)):
            return number
        if tag == "s" and isinstance(value, str):
            return value
    except (ValueError, InvalidOperation) as error:
        raise BadKey(str(error)) from None
    raise BadKey(f"unknown value tag {tag!r}")


def encode_key(column: str, direction: str, value, pk) -> str:
    """The URL-safe text of a row's sort key, for ``after_<View>`` / ``before_<View>``."""
    payload = json.dumps([column, direction, *_tagged(value), int(pk)], separators=(",", ":"),
                         ensure_ascii=False)
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")


def decode_key(text: str) -> tuple[str, str, Any, int]:
    """(column, direction, value, pk) from ``encode_key``'s text; ``BadKey`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        column, direction, tag, value, pk = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as error:
        raise BadKey(str(error)) from None
    if not isinstance(column, str) or direction not in ("asc", "desc"):
        raise BadKey("not a page key")
    if not _bigint(pk):
        raise BadKey("not a page key")
    return column, direction, _untagged(tag, value), pk


def requested_seek(view_name: str, order_column: str, order_direction: str) -> Seek | None:
    """The keyset position asked for in the request for this view and order, if any.

    A key made for another order (the user clicked a column header since) is ignored: the list
    starts at the top of the new order. An unreadable key gets a message.
    """
    for prefix, backwards in ((AFTER, False), (BEFORE, True)):
        text = request.args.get(prefix + view_name)
        if not text:
            continue
        try:
            column, direction, value, pk = decode_key(text)
        except BadKey:
            flash(gettext("The page link is not valid (perhaps cut short); showing the first "
                          "page."), "warning")
            return None
        if column != order_column or direction != (order_direction or "asc"):
            return None
        return Seek(column, direction, value, pk, backwards)
    return None


# --- links ----------------------------------------------------------------------------------

def _link(view_name: str, **changes) -> str:
    """This list's URL with its page position replaced (filters, order and size kept)."""
    args = request.args.copy()
    for prefix in ("page_", AFTER, BEFORE):
        args.pop(prefix + view_name, None)
    for name, value in changes.items():
        args[name] = value
    params = {**(request.view_args or {})}
    for name in args:
        values = args.getlist(name)
        params[name] = values if len(values) > 1 else values[0]
    return url_for(request.endpoint, **params)


@dataclass
class Pager:
    """The links a list page shows: numbered pages near the top, then previous / next by key."""

    numbered: list  # (number shown, url or None for the current page)
    first: str | None = None
    previous: str | None = None
    next: str | None = None
    seeking: bool = False


def build_pager(view_name: str, *, column: str | None, direction: str, page: int | None,
                page_size: int, count: int, items: list, key_of, has_more: bool,
                seek: Seek | None) -> Pager:
    """Links for a numbered page (``seek`` None) or a keyset page.

    ``key_of(item)`` gives an item's (order value, pk); ``has_more`` says whether rows follow in
    the direction the page was read (for a numbered page: beyond it).
    """
    direction = direction or "asc"

    def key_link(prefix, item):
        value, pk = key_of(item)
        return _link(view_name, **{prefix + view_name: encode_key(column, direction, value, pk)})

    limit_pages = max(1, numbered_rows() // page_size)
    if seek is None:
        page = page or 0
        total_pages = max(1, math.ceil(count / page_size))
        shown = min(total_pages, limit_pages)
        low = max(0, min(page - 3, shown - 7))
        high = min(shown, low + 7)
        numbered = [(n + 1, None if n == page else _link(view_name, **{f"page_{view_name}": n}))
                    for n in range(low, high)]
        pager = Pager(numbered=numbered)
        if page > 0:
            pager.first = _link(view_name)
            pager.previous = _link(view_name, **{f"page_{view_name}": page - 1})
        if has_more and items:
            if page + 1 < limit_pages or column is None:
                pager.next = _link(view_name, **{f"page_{view_name}": page + 1})
            else:
                pager.next = key_link(AFTER, items[-1])
        return pager
    pager = Pager(numbered=[], first=_link(view_name), seeking=True)
    more_forward = has_more if not seek.backwards else True
    more_backward = has_more if seek.backwards else True
    if items and more_backward:
        pager.previous = key_link(BEFORE, items[0])
    if items and more_forward:
        pager.next = key_link(AFTER, items[-1])
    if not items and seek.backwards:
        pager.next = None
    return pager


class CrmListWidget(ListWidget):
    """FAB's list widget with the pager above (numbered near the top, keys further down), its
    rows rendered without FAB's per-row macro and link building (``list_rows.html``)."""

    template = "crm_widgets/list_rows.html"

    def __init__(self, **kwargs):
        from backoffice.list_rows import PK_MARK, list_rows_html

        kwargs.setdefault("crm_list_rows", list_rows_html)
        kwargs.setdefault("crm_row_pk", PK_MARK)
        super().__init__(**kwargs)


class KeysetListMixin:
    """A ModelView whose list pages by keys past the numbered pages (see the module text).

    Replaces FAB's ``_get_list_widget`` body (which hides the page's items, and so the keys a
    "next" link needs); views whose data interface is not a ``ListQueryMixin`` keep FAB's.
    """

    def _init_properties(self):
        super()._init_properties()
        if self.list_widget is ListWidget:
            self.list_widget = CrmListWidget

    def _get_list_widget(self, filters, actions=None, order_column="", order_direction="",
                         page=None, page_size=None, widgets=None, **kwargs):
        from backoffice.datamodel import ListQueryMixin

        if not isinstance(self.datamodel, ListQueryMixin):
            return super()._get_list_widget(filters, actions=actions, order_column=order_column,
                                            order_direction=order_direction, page=page,
                                            page_size=page_size, widgets=widgets, **kwargs)
        widgets = widgets or {}
        actions = actions or self.actions
        page_size = page_size or self.page_size
        if not order_column and self.base_order:
            order_column, order_direction = self.base_order
        joined = filters.get_joined_filters(self._base_filters)
        view_name = self.__class__.__name__
        column = self.datamodel.seek_column(order_column)
        if column and any(getattr(f, "arg_name", None) == ROW_ORDER_ARG for f in joined.filters):
            column = None  # a field set's own sort goes first: the key would not follow it
        seek = requested_seek(view_name, order_column, order_direction) if column else None
        if seek is not None:
            count, items, has_more = self.datamodel.query_seek(joined, seek, page_size,
                                                               shown=self.list_columns)
            page = None
        else:
            count, items = self.datamodel.query(joined, order_column, order_direction,
                                                page=page, page_size=page_size,
                                                shown=self.list_columns)
            has_more = count > ((page or 0) + 1) * page_size
        pager = build_pager(
            view_name, column=column, direction=order_direction, page=page,
            page_size=page_size, count=count, items=items, has_more=has_more, seek=seek,
            key_of=lambda item: (getattr(item, column), self.datamodel.get_pk_value(item)))
        pks = [self._serialize_pk_if_composite(pk) for pk in self.datamodel.get_keys(items)]
        widgets["list"] = self.list_widget(
            label_columns=self.label_columns,
            include_columns=self.list_columns,
            value_columns=self.datamodel.get_values(items, self.list_columns),
            order_columns=self.order_columns,
            formatters_columns=self.formatters_columns,
            page=page,
            page_size=page_size,
            count=count,
            pks=pks,
            actions=actions,
            filters=filters,
            modelview_name=view_name,
            pager=pager,
            **kwargs,
        )
        return widgets
