"""The data wall in Chromium at 1920x1080: charts drawn by the app's own Plotly, every request
to the app's own origin (CSP bypassed so that a blocked attempt would show too, anything else
aborted and reported), and a refresh that fetches the JSON again and redraws in place: a figure
planted in the summary table after the page loaded appears without a reload."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import delete

from tests.browser.steps import sign_in
from tests.browser.test_no_external_requests import LOCAL_SCHEMES

OVERDUE_MARKER = 424_242  # overdue tasks planted in branch B1 while the wall is open


def _refresh_and_count_overdue(app, world, plant: bool = False):
    """Refresh the figures (or only plant the marker row); B1's overdue tasks from the rows."""
    from backoffice.dashboards import summaries
    from backoffice.extensions import db
    from models.base import utcnow
    from models.summaries import DashboardSummary

    with app.app_context():
        if plant:
            db.session.add(DashboardSummary(
                metric="open_tasks", dim="overdue", branch_id=world.branches["B1"],
                staff_id=world.staff["rm1"], staff_role="owner", count=OVERDUE_MARKER,
                refreshed_at=utcnow()))
        else:
            summaries.refresh_all(db.session)
        db.session.commit()
        total = sum(row.count for row in db.session.query(DashboardSummary).filter_by(
            metric="open_tasks", dim="overdue", staff_role="owner",
            branch_id=world.branches["B1"]))
        db.session.remove()
    return total


def test_branch_managers_wall_refreshes_in_place_from_the_app_alone(page, live_server, world,
                                                                    app, shoot_page):
    from backoffice.extensions import db
    from models.summaries import DashboardSummary

    _refresh_and_count_overdue(app, world)
    app.config["CRM_DATAWALL_REFRESH_SECONDS"] = 2
    base = live_server
    origin = f"{urlsplit(base).scheme}://{urlsplit(base).netloc}"
    requests, outside = [], []

    def seen(request):
        requests.append(request.url)
        parts = urlsplit(request.url)
        if parts.scheme not in LOCAL_SCHEMES and f"{parts.scheme}://{parts.netloc}" != origin:
            outside.append(f"{request.resource_type} {request.url}")

    context = page.context.browser.new_context(
        locale="zh-CN", viewport={"width": 1920, "height": 1080}, bypass_csp=True)
    context.route(re.compile(rf"^(?!{re.escape(base)}(/|$))(https?|wss?)://"),
                  lambda route: route.abort())
    try:
        wall = context.new_page()
        wall.set_default_timeout(20_000)
        context.on("request", seen)
        wall.on("websocket", lambda ws: outside.append(f"websocket {ws.url}"))
        sign_in(wall, base, "bm1")
        wall.goto(f"{base}/datawall/", wait_until="load")
        assert wall.locator("#wall-title").inner_text() == "Test Branch One"
        wall.locator("#tile-tiers .tile-chart .main-svg").first.wait_for(state="visible")
        drawn = wall.locator(".tile-chart.js-plotly-plot:not([hidden])").count()
        assert drawn >= 3, drawn
        before = wall.locator('.kpi[data-key="overdue"] .kpi-value').inner_text()
        total = _refresh_and_count_overdue(app, world, plant=True)
        try:
            wall.wait_for_function(
                "document.getElementById('datawall').getAttribute('data-refreshes') >= 2")
            wall.wait_for_function(  # the tiles are rebuilt on each refresh: query anew
                "text => document.querySelector("
                "'.kpi[data-key=\"overdue\"] .kpi-value').textContent === text",
                arg=f"{total:,}")
            assert before != f"{total:,}"
            # Redrawn in place, none lost.
            assert wall.locator(".tile-chart.js-plotly-plot:not([hidden])").count() == drawn
            fetches = [url for url in requests if url.endswith("/figures")]
            assert len(fetches) >= 2, fetches
            assert sum(1 for url in requests if "/datawall/" in urlsplit(url).path
                       and not url.endswith("/figures")) == 1  # no reload of the page
            shoot_page(wall, "01-branch-wall")
        finally:
            with app.app_context():
                db.session.execute(delete(DashboardSummary.__table__).where(
                    DashboardSummary.count == OVERDUE_MARKER))
                db.session.commit()
                db.session.remove()
    finally:
        context.close()
    assert requests and not outside, "requests outside the app:\n" + "\n".join(outside)
    assert any("/vendor/plotly-" in url for url in requests)
