"""The rows of a list page, written in Python with the markup of FAB's list widget.

A list page's rows are most of its HTML: a page of 25 records with seven columns is about two
hundred cells, and Jinja spends some microseconds on each (a block frame, a dictionary lookup
through the template's undefined-handling, a formatter test and an escape), which made the
rows alone about a sixth of a list page's server time. Here each row is one f-string over
values escaped exactly as the template's autoescape would (``markupsafe.escape``: a ``Markup``
value, such as a formatter's or a masked cell's, is kept as it is). The markup is FAB's
(``appbuilder/general/widgets/list.html``): the same cells, links, classes and titles; the
delete button, rare on these screens, is FAB's own macro, called per row.
"""
from __future__ import annotations

from jinja2.utils import url_quote
from markupsafe import Markup, escape

PK_MARK = "__crm_row_pk__"


def list_rows_html(value_columns, pks, include_columns, formatters, *, actions: bool,
                   buttons: bool, show_link: str | None, edit_link: str | None,
                   filter_suffix: str, titles: dict, delete_button=None,
                   delete_endpoint: str | None = None) -> Markup:
    """``<tr>`` rows for ``value_columns`` (one dict of display values per row) and ``pks``.

    ``buttons``: the user may show, edit or delete (the buttons' cell is there even when a
    link could not be built, as in FAB's rows). ``show_link``/``edit_link`` hold
    :data:`PK_MARK` where the row's key goes (one ``url_for`` per page instead of per row);
    ``delete_button(path)`` (FAB's ``lib.lnk_delete``) and ``delete_endpoint`` are given when
    the user may delete.
    """
    suffix = escape(filter_suffix)
    show_title, show_text = escape(titles["show_title"]), escape(titles["show_text"])
    edit_title, edit_text = escape(titles["edit_title"]), escape(titles["edit_text"])
    show_link = escape(show_link) if show_link else None
    edit_link = escape(edit_link) if edit_link else None
    cells = [(column, formatters.get(column)) for column in include_columns]
    out = []
    append = out.append
    for item, pk in zip(value_columns, pks):
        key = escape(pk)
        append("<tr>")
        if actions:
            append(f'<td><input id="{key}" class="action_check" name="rowid" value="{key}" '
                   f'type="checkbox"></td>')
        if buttons:
            in_link = escape(url_quote(str(pk)))
            append('<td><center><div class="btn-group btn-group-xs" style="display: flex;">')
            if show_link:
                append(f'<a href="{show_link.replace(PK_MARK, in_link)}{suffix}" '
                       f'class="btn btn-sm btn-default" data-toggle="tooltip" rel="tooltip" '
                       f'title="{show_title}"><span class="sr-only">{show_text}</span>'
                       f'<i class="fa fa-search"></i></a>')
            if edit_link:
                append(f'<a href="{edit_link.replace(PK_MARK, in_link)}{suffix}" '
                       f'class="btn btn-sm btn-default" data-toggle="tooltip" rel="tooltip" '
                       f'title="{edit_title}"><span class="sr-only">{edit_text}</span>'
                       f'<i class="fa fa-edit"></i></a>')
            if delete_button is not None:
                path = _safe_url_for(delete_endpoint, pk)
                if path:
                    append(str(delete_button(path)))
            append("</div></center></td>")
        for column, formatter in cells:
            value = item[column]
            append(f"<td>{escape(formatter(value) if formatter else value)}</td>")
        append("</tr>\n")
    return Markup("".join(out))


def _safe_url_for(endpoint: str | None, pk) -> str | None:
    """FAB's ``safe_url_for`` filter: the URL, or None when it cannot be built."""
    from flask import url_for

    try:
        return url_for(endpoint, pk=pk)
    except Exception:  # noqa: BLE001 - as FAB's filter: no link rather than a failed page
        return None
