"""Charts come from the app itself (no CDN) and carry their click-through links."""
from __future__ import annotations

from decimal import Decimal

from backoffice import charts


def test_plotly_is_served_by_the_app_itself(client):
    """Bank intranets have no internet: the browser loads Plotly from the back office."""
    response = client.get(f"/vendor/plotly-{charts.plotly_version()}.min.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert b"plotly.js (cartesian" in response.data[:2000].lower()
    assert "immutable" in response.headers["Cache-Control"]


def test_bar_carries_links_and_plain_numbers():
    """Each bar links to its filtered list; Decimals become JSON numbers for drawing."""
    figure = charts.bar(["mass", "vip"], [Decimal("1.50"), 3],
                        links=["/customers/list/?tier=mass", "/customers/list/?tier=vip"])
    trace = figure["data"][0]
    assert trace["y"] == [1.5, 3]
    assert trace["customdata"] == ["/customers/list/?tier=mass", "/customers/list/?tier=vip"]


def test_heatmap_links_per_cell():
    figure = charts.heatmap(["low", "high"], ["low", "high"], [[1, 2], [3, 4]],
                            links=[["/a", "/b"], ["/c", "/d"]])
    assert figure["data"][0]["customdata"][1][0] == "/c"
    assert figure["data"][0]["text"] == [["1", "2"], ["3", "4"]]


def test_chart_macro_renders_json_without_inline_script(app):
    """The CSP forbids inline script: the figure travels in a data attribute."""
    with app.test_request_context():
        template = app.jinja_env.from_string(
            '{% import "charts/macros.html" as c %}{{ c.scripts() }}{{ c.chart(fig) }}')
        html = template.render(fig=charts.pie(["a'b"], [1], links=["/x"]))
    assert "data-figure='" in html and "a\\u0027b" in html
    assert "<script>" not in html
    assert "/static/crm-charts.js" in html
