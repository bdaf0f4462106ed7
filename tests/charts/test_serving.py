"""Plotly reaches the browser compressed, cached for a year, and only on pages that draw charts;
FAB's user statistics draw with it instead of Google Charts from the internet."""
from __future__ import annotations

import gzip

from backoffice import charts

PLOTLY = f"/vendor/plotly-{charts.plotly_version()}.min.js"


def _original() -> bytes:
    with open(charts._plotly_path(), "rb") as handle:
        return handle.read()


def test_plotly_is_sent_gzip_compressed_with_long_lived_cache_headers(client):
    response = client.get(PLOTLY, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Accept-Encoding" in response.headers["Vary"]
    body = response.get_data()
    assert len(body) < len(_original()) / 2
    assert gzip.decompress(body) == _original()


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
    """A list page, a form and the profile page carry no chart: no 4.8 MB script to parse."""
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
