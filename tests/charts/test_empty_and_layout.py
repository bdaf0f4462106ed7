"""A chart with nothing to draw says what to do next; labels, legends and titles keep apart."""
from __future__ import annotations

import json

import pytest

from backoffice import charts


def _render(app, *figures) -> str:
    with app.test_request_context():
        template = app.jinja_env.from_string(
            '{% import "charts/macros.html" as c %}{{ c.scripts() }}'
            '{% for f in figures %}{{ c.chart(f) }}{% endfor %}')
        return template.render(figures=figures)


@pytest.mark.parametrize("figure", [
    charts.bar(["大众", "财富"], [0, 0]),
    charts.bar([], []),
    charts.bar_groups(["1月"], {"a": [None], "b": [0]}),
    charts.line(["2026-01", "2026-02"], {"新客户": [0, 0]}),
    charts.pie(["柜台"], [0]),
    charts.heatmap(["低", "高"], ["低", "高"], [[0, 0], [0, 0]]),
    charts.funnel(["目标", "触达"], [0, 0]),
], ids=["bar-zeros", "bar-none", "groups-gaps", "line", "pie", "heatmap", "funnel"])
def test_figures_with_only_zeros_or_nothing_are_empty(figure):
    assert figure["empty"]["text"]


@pytest.mark.parametrize("figure", [
    charts.bar(["大众", "财富"], [0, 3]),
    charts.line(["2026-01"], {"a": [0], "b": [2]}),
    charts.heatmap(["低"], ["高"], [[1]]),
    charts.pie(["柜台", "电话"], [0, 1]),
])
def test_figures_with_data_are_drawn(figure):
    assert "empty" not in figure


def test_an_empty_chart_shows_its_next_step_instead_of_axes(app):
    figure = charts.bar(["a"], [0], title="Customers by tier",
                        empty_text="Run the tier refresh first.",
                        empty_link="/segments/", empty_link_text="Segments")
    html = _render(app, figure)
    assert "Run the tier refresh first." in html
    assert '<a href="/segments/">Segments</a>' in html
    assert "Customers by tier" in html
    assert "crm-chart-empty" in html
    assert "data-figure" not in html
    assert "/vendor/plotly" not in html  # nothing to draw: no Plotly to load


def test_the_default_empty_text_is_in_the_users_language(app):
    """The sentence is looked up when the figure is built, in the request's language."""
    with app.test_request_context():
        figure = charts.bar(["a"], [0])
        expected = str(charts.EMPTY_TEXT)
    assert type(figure["empty"]["text"]) is str and figure["empty"]["text"] == expected
    assert figure["empty"]["link"] is None


def test_an_empty_link_off_the_site_is_dropped():
    for link in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        assert charts.bar(["a"], [0], empty_link=link)["empty"]["link"] is None


def test_plotly_is_added_once_per_page_with_charts(app):
    html = _render(app, charts.bar(["a"], [1]), charts.pie(["b"], [2]))
    assert html.count("/vendor/plotly-") == 1
    assert html.count("crm-charts.js") == 1
    assert html.count('class="crm-chart"') == 2
    assert "defer" in html


def test_axes_fit_their_labels_and_the_legend_has_its_own_row():
    layout = charts.bar_groups(["a"], {"x": [1], "y": [2]}, title="t")["layout"]
    assert layout["xaxis"]["automargin"] and layout["yaxis"]["automargin"]
    assert layout["legend"]["orientation"] == "h"
    assert layout["legend"]["yanchor"] == "bottom" and layout["legend"]["y"] >= 1
    assert layout["title"]["yref"] == "container"


def test_layout_defaults_are_not_shared_between_figures():
    first = charts.bar(["a"], [1])
    first["layout"]["xaxis"]["type"] = "category"
    assert "type" not in charts.bar(["a"], [1])["layout"]["xaxis"]


def test_long_chinese_labels_are_wrapped_not_cut():
    name = "北京分行营业部第一支行财富管理中心高净值客户"
    tick = charts.bar([name], [1])["data"][0]["x"][0]
    assert "<br>" in tick
    assert tick.replace("<br>", "") == name


def test_labels_that_start_alike_stay_apart():
    names = ["私人银行客户高净值组甲组一号", "私人银行客户高净值组甲组二号"]
    ticks = charts.bar(names, [1, 2])["data"][0]["x"]
    assert len(set(ticks)) == 2


def test_wrapped_labels_are_still_escaped():
    tick = charts.bar(["<img src=x onerror=alert(1)> 长长长长长长长长长长长长长"], [1])["data"][0]["x"][0]
    assert "<img" not in tick and "&lt;img" in tick
    json.dumps(tick)
