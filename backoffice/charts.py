"""Charts served by the app itself: Plotly figures described in Python, drawn in the browser.

Why a vendored partial Plotly bundle: bank intranets have no internet (DESIGN §5), so the browser
must load the chart library from the back office. The app draws only bar, line (scatter), pie and
heat-map traces (funnels are drawn as horizontal bars), so instead of the full ``plotly.min.js``
of the ``plotly`` pip package (4.8 MB, 1.4 MB gzip-compressed, which kept chart pages at 1.4-1.7 s
on a cold cache) it serves plotly.js's official *cartesian* partial bundle, committed under
``static/vendor/plotly/`` with its licence and a README saying where it came from (npm package
``plotly.js-cartesian-dist-min``, the same plotly.js version as the pip package bundles, and its
sha256). The file is 1.5 MB, about 0.5 MB gzip-compressed (``backoffice.compressed``), under a
URL carrying the bundle's version, read from the file's own header, so that browsers keep it for
a year and a replaced file gets a new URL; a page asking for another version is redirected to
the current one. The page never runs inline script (the content security policy forbids it): a
chart is a ``<div class="crm-chart">`` holding its figure as JSON, drawn by
``static/crm-charts.js``. A trace type outside the bundle would draw nothing, so the builders
below are the only ones figures use.

Only pages that draw a chart load Plotly: the ``chart`` macro adds the two deferred scripts the
first time a page draws one, so a page whose charts are all empty (or that has none) does not pay
for parsing 1.5 MB of JavaScript.

Empty charts: a figure with no data, or with only zeros, would draw bare axes from -1 to 1 or an
all-zero heat map. Every builder marks such a figure ``empty``, and the macro shows a sentence
saying what to do next (callers may give their own sentence and a link) instead of a plot.

Labels, series names and titles are names users typed (segments, branches, campaigns): they are
HTML-escaped here, because Plotly reads a subset of HTML in its texts and decodes entities back
for display, so a name shows as typed and never becomes markup.

Click-through: every point may carry a URL (``links``); clicking it opens that filtered list.
The builders take plain data so that rooms can compute figures with one grouped query each.

Use in a template::

    {% import "charts/macros.html" as charts %}
    {{ charts.chart(figure) }}

with ``figure = charts.bar(labels, values, links=urls, title=_("Customers by tier"))``.
"""
from __future__ import annotations

import copy
import hashlib
import html
import os
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

from flask import Blueprint, Response, g, redirect, url_for
from flask_babel import lazy_gettext as _l

from backoffice.compressed import compressed_file_response

blueprint = Blueprint("charts", __name__)

# Layout defaults that keep axes, legends and titles apart (long Chinese labels included):
# axes grow their margin to fit their tick labels (automargin), the legend sits in its own row
# above the plot instead of under the x axis where rotated labels run into it, and the title
# stays left-aligned above the legend. crm-charts.js applies the axis defaults again to axes a
# caller set itself (e.g. ``layout["xaxis"] = {"type": "category"}``).
_AXIS = {"automargin": True, "tickfont": {"size": 11}}
_LAYOUT = {
    "margin": {"l": 8, "r": 8, "t": 56, "b": 8, "pad": 4},
    "font": {"family": "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, Helvetica Neue, "
                       "sans-serif", "size": 12},
    "showlegend": True,
    "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom",
               "font": {"size": 11}},
    "xaxis": dict(_AXIS),
    "yaxis": dict(_AXIS),
}
_TITLE = {"x": 0, "xanchor": "left", "xref": "paper", "y": 1, "yref": "container",
          "yanchor": "top", "pad": {"t": 8}, "font": {"size": 14}}
# Labels longer than this many characters are wrapped onto more lines (at spaces where there
# are any): one long segment or branch name must not squeeze the plot into a corner. Wrapped,
# not cut short: two long names that start alike must stay two bars.
LABEL_LIMIT = 12

EMPTY_TEXT = _l("No figures to show yet. They appear here once there are records to count "
                "and the figures have been refreshed.")


# The vendored partial bundle (see static/vendor/plotly/README.md for its origin and sha256).
PLOTLY_BUNDLE = os.path.join(os.path.dirname(__file__), "static", "vendor", "plotly",
                             "plotly-cartesian.min.js")
# Its first comment says which release it is: "* plotly.js (cartesian - minified) v4.1.1".
_HEADER_VERSION = re.compile(rb"plotly\.js\b[^\n]*?\bv(\d+(?:\.\d+)+)\b")
_VERSIONS: dict[tuple[str, int, int], str] = {}


def plotly_path() -> str:
    return PLOTLY_BUNDLE


def plotly_version() -> str:
    """The bundle's plotly.js version, from the file itself, for its URL: a different file
    gets a different URL, so a browser never keeps an old one under a year-long cache. A file
    without the usual header is named by the start of its sha256 instead."""
    path = plotly_path()
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    version = _VERSIONS.get(key)
    if version is None:
        with open(path, "rb") as handle:
            found = _HEADER_VERSION.search(handle.read(512))
        if found:
            version = found.group(1).decode("ascii")
        else:
            with open(path, "rb") as handle:
                version = hashlib.sha256(handle.read()).hexdigest()[:16]
        _VERSIONS.clear()
        _VERSIONS[key] = version
    return version


@blueprint.route("/vendor/plotly-<version>.min.js")
def plotly_js(version: str) -> Response:
    """The vendored Plotly bundle, gzip-compressed when the browser accepts it; the version in
    the URL lets browsers keep it for a year without asking again. A page rendered before the
    bundle was replaced asks for the old version: it is sent to the current one (a plain
    redirect, never cached for long, so the old URL is not pinned to the new file)."""
    current = plotly_version()
    if version != current:
        response = redirect(url_for("charts.plotly_js", version=current))
        response.headers["Cache-Control"] = "no-cache"
        return response
    return compressed_file_response(plotly_path(), mimetype="text/javascript",
                                    max_age=365 * 24 * 3600, immutable=True)


def first_chart_on_page() -> bool:
    """True the first time a page asks: the chart macro adds the scripts once per page."""
    if g.get("_crm_chart_scripts"):
        return False
    g._crm_chart_scripts = True
    return True


def _number(value):
    """JSON has no Decimal: money and counts become floats for drawing only (never stored)."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _text(value) -> str:
    """A label as Plotly text: escaped, so that it is shown and never parsed as markup."""
    return html.escape(str(value), quote=False)


def _tick(value) -> str:
    """A label for an axis: escaped, wrapped with ``<br>`` past ``LABEL_LIMIT`` characters."""
    text = str(value)
    if len(text) <= LABEL_LIMIT:
        return _text(text)
    lines, current = [], ""
    for word in text.split(" ") if " " in text else [text]:
        while len(word) > LABEL_LIMIT:  # Chinese has no spaces: cut by characters
            room = LABEL_LIMIT - len(current)
            lines.append(current + word[:room])
            current, word = "", word[room:]
        if current and len(current) + 1 + len(word) > LABEL_LIMIT:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return "<br>".join(_text(part) for part in lines)


def _has_data(values: Iterable) -> bool:
    """Whether any value would draw something: zeros and gaps alone make empty axes."""
    for value in values:
        if isinstance(value, (list, tuple)):
            if _has_data(value):
                return True
        elif value is not None and value != 0:
            return True
    return False


def _figure(data: list[dict], title: str | None, *, empty: bool, empty_text=None,
            empty_link: str | None = None, empty_link_text=None, **layout) -> dict:
    merged = {**copy.deepcopy(_LAYOUT), **layout}
    if title:
        merged["title"] = {"text": _text(title), **copy.deepcopy(_TITLE)}
    figure = {"data": data, "layout": merged}
    if empty:
        figure["empty"] = {"title": str(title) if title else "",
                           "text": str(empty_text or EMPTY_TEXT),
                           "link": empty_link if _local_path(empty_link) else None,
                           "link_text": str(empty_link_text or _l("Open"))}
    return figure


def _local_path(url) -> bool:
    """Only a path on this site (not "//host" or "/\\host"), like crm-charts.js's click links."""
    return isinstance(url, str) and url.startswith("/") and url[1:2] not in ("/", "\\")


def bar(labels: Sequence, values: Sequence, *, links: Sequence[str] | None = None,
        title: str | None = None, name: str | None = None, horizontal: bool = False,
        **empty) -> dict:
    """One bar per label; ``links[i]`` is where clicking bar ``i`` goes.

    ``empty_text``, ``empty_link`` and ``empty_link_text`` (every builder takes them) say what
    to do when there is nothing to draw.
    """
    return bar_groups(labels, {name or "": values}, links=links, title=title,
                      horizontal=horizontal, showlegend=bool(name), **empty)


def bar_groups(labels: Sequence, series: dict[str, Sequence], *,
               links: Sequence[str] | None = None, title: str | None = None,
               horizontal: bool = False, stacked: bool = False, showlegend: bool = True,
               **empty) -> dict:
    """Several series over the same labels (grouped or stacked bars)."""
    data = []
    for series_name, values in series.items():
        x, y = [_tick(label) for label in labels], [_number(v) for v in values]
        trace = {"type": "bar", "name": _text(series_name),
                 "x": y if horizontal else x, "y": x if horizontal else y}
        if horizontal:
            trace["orientation"] = "h"
        if links is not None:
            trace["customdata"] = list(links)
        data.append(trace)
    has_data = bool(labels) and _has_data(list(v) for v in series.values())
    return _figure(data, title, empty=not has_data,
                   barmode="stack" if stacked else "group", showlegend=showlegend, **empty)


def line(x: Sequence, series: dict[str, Sequence], *, links: Sequence[str] | None = None,
         title: str | None = None, **empty) -> dict:
    """Lines over a shared x axis (months, days)."""
    data = [{"type": "scatter", "mode": "lines+markers", "name": _text(series_name),
             "x": [_tick(v) for v in x], "y": [_number(v) for v in values],
             **({"customdata": list(links)} if links is not None else {})}
            for series_name, values in series.items()]
    has_data = bool(x) and _has_data(list(v) for v in series.values())
    return _figure(data, title, empty=not has_data, **empty)


def pie(labels: Sequence, values: Sequence, *, links: Sequence[str] | None = None,
        title: str | None = None, **empty) -> dict:
    trace = {"type": "pie", "hole": 0.4, "labels": [_tick(v) for v in labels],
             "values": [_number(v) for v in values], "sort": False,
             "textposition": "inside", "automargin": True}
    if links is not None:
        trace["customdata"] = list(links)
    return _figure([trace], title, empty=not _has_data(values), **empty)


def heatmap(x: Sequence, y: Sequence, z: Sequence[Sequence], *,
            links: Sequence[Sequence[str]] | None = None, title: str | None = None,
            **empty) -> dict:
    """A matrix such as value band × risk band; ``links[row][col]`` per cell, counts written in."""
    trace = {"type": "heatmap", "x": [_tick(v) for v in x], "y": [_tick(v) for v in y],
             "z": [[_number(v) for v in row] for row in z], "colorscale": "Reds",
             "text": [[str(_number(v)) for v in row] for row in z],
             "texttemplate": "%{text}", "hoverongaps": False}
    if links is not None:
        trace["customdata"] = [list(row) for row in links]
    return _figure([trace], title, empty=not _has_data(list(row) for row in z),
                   showlegend=False, **empty)


def funnel(stages: Sequence, values: Sequence, *, links: Sequence[str] | None = None,
           title: str | None = None, **empty) -> dict:
    """Campaign funnels: targeted → contacted → responded → converted, as horizontal bars.

    Horizontal bars, first stage on top, rather than Plotly's ``funnel`` trace: that trace is
    not in the partial bundle the app serves. Each bar is written with its count and its share
    of the first stage, which is what a funnel shows.
    """
    numbers = [_number(v) for v in values]
    first = numbers[0] if numbers else None

    def written(value) -> str:
        if value is None:
            return ""
        return f"{value:,} ({value / first:.0%})" if first else f"{value:,}"

    text = [written(v) for v in numbers]
    trace = {"type": "bar", "orientation": "h", "y": [_tick(v) for v in stages], "x": numbers,
             "text": text, "textposition": "auto", "hoverinfo": "y+text"}
    if links is not None:
        trace["customdata"] = list(links)
    figure = _figure([trace], title, empty=not _has_data(values), showlegend=False, **empty)
    # Stages read top-down in the order given, as a funnel does.
    figure["layout"]["yaxis"]["autorange"] = "reversed"
    return figure


def install(app) -> None:
    app.register_blueprint(blueprint)
    app.jinja_env.globals["plotly_version"] = plotly_version
    app.jinja_env.globals["first_chart_on_page"] = first_chart_on_page
