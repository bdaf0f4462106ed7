"""Plotly reaches the browser as the vendored partial bundle, compressed, cached for a year, and
only on pages that draw charts; FAB's user statistics draw with it instead of Google Charts from
the internet."""
from __future__ import annotations

import gzip
import hashlib
import os
import re

import plotly

from backoffice import charts
from backoffice.datawall import tiles

PLOTLY = f"/vendor/plotly-{charts.plotly_version()}.min.js"
VENDOR = os.path.dirname(charts.PLOTLY_BUNDLE)


def _original() -> bytes:
    with open(charts.PLOTLY_BUNDLE, "rb") as handle:
        return handle.read()


def _full_bundle() -> bytes:
    """The full plotly.min.js of the pip package, which the app no longer serves."""
    with open(os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js"),
              "rb") as handle:
        return handle.read()


def _trace_modules(bundle: bytes) -> set[str]:
    return {name.decode() for name in re.findall(rb'moduleType:"trace",name:"(\w+)"', bundle)}


def test_the_served_file_is_the_vendored_partial_bundle(client):
    """The cartesian bundle, a third of the full one, of the plotly.js the pip package bundles."""
    body = client.get(PLOTLY, headers={"Accept-Encoding": "identity"}).get_data()
    assert body == _original()
    assert body[:200].startswith(b"/**\n* plotly.js (cartesian - minified) v")
    full = _full_bundle()
    assert len(body) < len(full) / 3
    same_release = re.search(rb"plotly\.js v(\d+(?:\.\d+)+)", full[:200]).group(1).decode()
    assert charts.plotly_version() == same_release
    assert _trace_modules(body) < _trace_modules(full)


def test_the_vendored_file_is_the_one_its_readme_names():
    """Its README says where it came from, its version and sha256; its licence sits next to it."""
    with open(os.path.join(VENDOR, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    assert hashlib.sha256(_original()).hexdigest() in readme
    assert f"plotly.js-cartesian-dist-min@{charts.plotly_version()}" in readme
    with open(os.path.join(VENDOR, "LICENSE"), encoding="utf-8") as handle:
        assert handle.read().startswith("MIT License")


def test_every_trace_the_builders_draw_is_in_the_bundle():
    """A trace type outside the partial bundle would draw nothing: funnels are drawn as bars."""
    figures = [charts.bar(["a"], [1]), charts.bar_groups(["a"], {"x": [1]}, horizontal=True),
               charts.line(["a"], {"x": [1]}), charts.pie(["a"], [1]),
               charts.heatmap(["a"], ["b"], [[1]]), charts.funnel(["a", "b"], [2, 1])]
    drawn = {trace["type"] for figure in figures for trace in figure["data"]}
    assert drawn <= _trace_modules(_original())
    assert "funnel" not in _trace_modules(_original())


def test_a_funnel_is_drawn_as_horizontal_bars_first_stage_on_top():
    figure = charts.funnel(["目标", "触达", "响应", "转化"], [200, 120, 30, 0],
                           links=["/a", "/b", "/c", "/d"], title="漏斗")
    (trace,) = figure["data"]
    assert trace["type"] == "bar" and trace["orientation"] == "h"
    assert trace["y"] == ["目标", "触达", "响应", "转化"] and trace["x"] == [200, 120, 30, 0]
    assert trace["text"] == ["200 (100%)", "120 (60%)", "30 (15%)", "0 (0%)"]
    assert trace["customdata"] == ["/a", "/b", "/c", "/d"]
    assert figure["layout"]["yaxis"]["autorange"] == "reversed"
    assert figure["layout"]["yaxis"]["automargin"]
    assert "empty" not in figure
    # No first stage to divide by: counts alone.
    assert charts.funnel(["a", "b"], [0, 3])["data"][0]["text"] == ["0", "3"]


def test_the_data_wall_writes_a_funnels_own_text_large():
    """On the dark wall a funnel keeps its count-and-share text, in large type, and counts
    (were it drawn with them) go on the x axis, where a horizontal bar's values are."""
    figure = tiles.dark(charts.funnel(["a", "b"], [10, 4]))
    trace = figure["data"][0]
    assert trace["text"] == ["10 (100%)", "4 (40%)"] and "texttemplate" not in trace
    assert trace["insidetextfont"]["size"] == trace["outsidetextfont"]["size"] == 20
    assert trace["outsidetextfont"]["color"] == tiles.TEXT  # readable beside a short bar
    assert figure["layout"]["yaxis"]["autorange"] == "reversed"
    counted = tiles.dark(charts.funnel(["a", "b"], [3, 1]), counts=True)
    assert counted["layout"]["xaxis"]["tickformat"] == ",d"
    assert counted["layout"]["xaxis"]["dtick"] == 1
    assert "tickformat" not in counted["layout"]["yaxis"]
    bars = tiles.dark(charts.bar(["a"], [3]), counts=True)
    assert bars["data"][0]["texttemplate"] == "%{y:,}" and bars["layout"]["yaxis"]["dtick"] == 1


def test_plotly_is_sent_gzip_compressed_with_long_lived_cache_headers(client):
    response = client.get(PLOTLY, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Accept-Encoding" in response.headers["Vary"]
    body = response.get_data()
    assert len(body) < len(_original()) / 2
    assert gzip.decompress(body) == _original()


def test_another_version_is_sent_to_the_current_url_not_cached_under_the_old_one(client):
    """A page rendered before the bundle changed asks for the old URL (the pip package's
    version was in it before): it gets a redirect, never the new file under a year-long cache."""
    response = client.get("/vendor/plotly-7.1.0.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(PLOTLY)
    assert "immutable" not in response.headers.get("Cache-Control", "")


def test_the_url_changes_when_the_file_does(tmp_path, monkeypatch):
    """The version comes from the file itself: another release is another URL, and a file
    without the usual header is named by its content."""
    other = tmp_path / "plotly.min.js"
    other.write_bytes(b"/**\n* plotly.js (cartesian - minified) v9.8.7\n*/\nvar Plotly;")
    monkeypatch.setattr(charts, "PLOTLY_BUNDLE", str(other))
    assert charts.plotly_version() == "9.8.7"
    other.write_bytes(b"var Plotly = {};\n")
    os.utime(other, ns=(1, 1))
    assert charts.plotly_version() == hashlib.sha256(b"var Plotly = {};\n").hexdigest()[:16]


def test_plotly_without_gzip_support_is_the_plain_file(client):
    response = client.get(PLOTLY, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.get_data() == _original()
    assert "immutable" in response.headers["Cache-Control"]


def test_a_reload_with_the_etag_is_answered_without_the_body(client):
    first = client.get(PLOTLY, headers={"Accept-Encoding": "gzip"})
    again = client.get(PLOTLY, headers={"Accept-Encoding": "gzip",
                                         "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_data() == b""


def test_non_chart_pages_do_not_load_plotly(client_as):
    """A list page, a form and the profile page carry no chart: no Plotly to load and parse."""
    client = client_as("rm1")
    for url in ("/customers/list/", "/customers/add", "/users/userinfo/"):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert "/vendor/plotly" not in page, url
        assert "crm-charts.js" not in page, url


def test_user_statistics_draw_with_the_apps_own_chart(client_as):
    """FAB's screen loaded Google Charts from gstatic.com; ours draws logins with Plotly, once."""
    client = client_as("admin")
    response = client.get("/userstatschartview/chart/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "google" not in page.lower() and "gstatic" not in page
    assert page.count(PLOTLY) == 1  # admin has logged in: there is something to draw
    assert 'class="crm-chart"' in page
    assert "(admin)" in page


def test_user_statistics_stay_an_admin_screen(client_as):
    response = client_as("rm1").get("/userstatschartview/chart/")
    assert response.status_code in (302, 403, 404)


def test_no_view_draws_with_flask_appbuilders_google_charts(app):
    """FAB's chart views load Google Charts from the internet: none may be registered."""
    from flask_appbuilder.charts.views import BaseChartView

    chart_views = [type(view).__name__ for view in app.appbuilder.baseviews
                   if isinstance(view, BaseChartView)]
    assert chart_views == []
