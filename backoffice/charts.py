"""Charts served by the app itself: Plotly figures described in Python, drawn in the browser.

Why Plotly from its pip package: bank intranets have no internet (DESIGN §5), so the browser must
load the chart library from the back office. The ``plotly`` wheel ships ``plotly.min.js``; we serve
that file from the installed package (pinned in requirements.txt) instead of copying it into the
repository. The page never runs inline script (the content security policy forbids it): a chart is
a ``<div class="crm-chart">`` holding its figure as JSON, drawn by ``static/crm-charts.js``.

Labels, series names and titles are names users typed (segments, branches, campaigns): they are
HTML-escaped here, because Plotly reads a subset of HTML in its texts and decodes entities back
for display, so a name shows as typed and never becomes markup.

Click-through: every point may carry a URL (``links``); clicking it opens that filtered list.
The builders take plain data so that rooms can compute figures with one grouped query each.

Use in a template::

    {% import "charts/macros.html" as charts %}
    {{ charts.scripts() }}
    {{ charts.chart(figure) }}

with ``figure = charts.bar(labels, values, links=urls, title=_("Customers by tier"))``.
"""
from __future__ import annotations

import html
import os
from collections.abc import Sequence
from decimal import Decimal

from flask import Blueprint, Response, send_file

blueprint = Blueprint("charts", __name__)

# Plotly's own colours are fine for data; the layout keeps charts compact on dashboards.
_LAYOUT = {
    "margin": {"l": 48, "r": 16, "t": 40, "b": 48},
    "font": {"family": "Helvetica Neue, PingFang SC, Microsoft YaHei, sans-serif", "size": 12},
    "showlegend": True,
    "legend": {"orientation": "h"},
}


def plotly_version() -> str:
    from importlib.metadata import version

    return version("plotly")


@blueprint.route("/vendor/plotly-<version>.min.js")
def plotly_js(version: str) -> Response:
    """The bundled plotly.min.js; the version in the URL lets browsers cache it for a year."""
    import plotly

    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    response = send_file(path, mimetype="text/javascript", max_age=365 * 24 * 3600,
                         conditional=True)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def _number(value):
    """JSON has no Decimal: money and counts become floats for drawing only (never stored)."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _text(value) -> str:
    """A label as Plotly text: escaped, so that it is shown and never parsed as markup."""
    return html.escape(str(value), quote=False)


def _figure(data: list[dict], title: str | None, **layout) -> dict:
    merged = {**_LAYOUT, **layout}
    if title:
        merged["title"] = {"text": _text(title), "font": {"size": 14}}
    return {"data": data, "layout": merged}


def bar(labels: Sequence, values: Sequence, *, links: Sequence[str] | None = None,
        title: str | None = None, name: str | None = None, horizontal: bool = False) -> dict:
    """One bar per label; ``links[i]`` is where clicking bar ``i`` goes."""
    return bar_groups(labels, {name or "": values}, links=links, title=title,
                      horizontal=horizontal, showlegend=bool(name))


def bar_groups(labels: Sequence, series: dict[str, Sequence], *,
               links: Sequence[str] | None = None, title: str | None = None,
               horizontal: bool = False, stacked: bool = False, showlegend: bool = True) -> dict:
    """Several series over the same labels (grouped or stacked bars)."""
    data = []
    for series_name, values in series.items():
        x, y = [_text(label) for label in labels], [_number(v) for v in values]
        trace = {"type": "bar", "name": _text(series_name),
                 "x": y if horizontal else x, "y": x if horizontal else y}
        if horizontal:
            trace["orientation"] = "h"
        if links is not None:
            trace["customdata"] = list(links)
        data.append(trace)
    return _figure(data, title, barmode="stack" if stacked else "group", showlegend=showlegend)


def line(x: Sequence, series: dict[str, Sequence], *, links: Sequence[str] | None = None,
         title: str | None = None) -> dict:
    """Lines over a shared x axis (months, days)."""
    data = [{"type": "scatter", "mode": "lines+markers", "name": _text(series_name),
             "x": [_text(v) for v in x], "y": [_number(v) for v in values],
             **({"customdata": list(links)} if links is not None else {})}
            for series_name, values in series.items()]
    return _figure(data, title)


def pie(labels: Sequence, values: Sequence, *, links: Sequence[str] | None = None,
        title: str | None = None) -> dict:
    trace = {"type": "pie", "hole": 0.4, "labels": [_text(v) for v in labels],
             "values": [_number(v) for v in values], "sort": False}
    if links is not None:
        trace["customdata"] = list(links)
    return _figure([trace], title)


def heatmap(x: Sequence, y: Sequence, z: Sequence[Sequence], *,
            links: Sequence[Sequence[str]] | None = None, title: str | None = None) -> dict:
    """A matrix such as value band × risk band; ``links[row][col]`` per cell, counts written in."""
    trace = {"type": "heatmap", "x": [_text(v) for v in x], "y": [_text(v) for v in y],
             "z": [[_number(v) for v in row] for row in z], "colorscale": "Reds",
             "text": [[str(_number(v)) for v in row] for row in z],
             "texttemplate": "%{text}", "hoverongaps": False}
    if links is not None:
        trace["customdata"] = [list(row) for row in links]
    return _figure([trace], title, showlegend=False)


def funnel(stages: Sequence, values: Sequence, *, links: Sequence[str] | None = None,
           title: str | None = None) -> dict:
    """Campaign funnels: targeted → contacted → responded → converted."""
    trace = {"type": "funnel", "y": [_text(v) for v in stages], "x": [_number(v) for v in values]}
    if links is not None:
        trace["customdata"] = list(links)
    return _figure([trace], title, showlegend=False)


def install(app) -> None:
    app.register_blueprint(blueprint)
    app.jinja_env.globals["plotly_version"] = plotly_version
