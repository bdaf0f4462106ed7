"""How long chart pages take to load fully in Chromium on localhost, against a baseline.

A chart page is loaded when the browser has fired ``load`` and every chart on it has drawn
(Plotly's SVG is in each ``.crm-chart``). Measured in Chromium (headless, Debian's
``/usr/bin/chromium`` or ``CRM_BROWSER``) against the app served over HTTP on 127.0.0.1, as a
senior manager, on the home dashboard, the tier page, the churn dashboard and a campaign's
evaluation, with the demo bank brought to life (tiers, churn scores, a campaign, figures).

Two Plotly bundles served in the same run, same server, same pages, same way (gzip-compressed,
cached for a year, loaded only where a chart is drawn, deferred):

* ``now``: the vendored partial bundle the app serves (``plotly.js-cartesian-dist-min``,
  ``backoffice/static/vendor/plotly/``);
* ``baseline``: the full ``plotly.min.js`` of the ``plotly`` pip package, which the app served
  before: for the baseline rounds the benchmark points ``charts.PLOTLY_BUNDLE`` at that file,
  so only the bytes of the bundle differ. The browser and its settings are the same in both.

Each is measured cold (a fresh browser profile: empty cache, the first visit of the day) and
warm (the same page again in that profile). Prints median and worst milliseconds per page, and
the bytes of Plotly on the wire.

    python benchmarks/chart_pages.py [--customers 400] [--runs 5]
        [--database-url postgresql://postgres@127.0.0.1:5432/crm_bench]

Without --database-url a temporary SQLite file is used; one holding customers no benchmark
loaded is refused.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._server import BENCH_PASSWORD as PASSWORD  # noqa: E402
from benchmarks._server import load_demo_bank as seed  # noqa: E402
from benchmarks._server import scratch_app as build_app  # noqa: E402

DRAWN = """() => {
    if (document.readyState !== 'complete') return false;
    const charts = document.querySelectorAll('.crm-chart');
    for (const chart of charts) { if (!chart.querySelector('.main-svg')) return false; }
    return {ms: performance.now(), charts: charts.length};
}"""
MODES = ("now", "baseline")


def full_bundle() -> str:
    """The full plotly.min.js of the pip package (the baseline)."""
    import plotly

    return os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")


def bring_to_life(app) -> None:
    """Tiers, churn scores, a campaign and the dashboard figures, as the demo's first day."""
    from backoffice.demo import firstday
    from backoffice.extensions import db

    with app.test_request_context():
        try:
            firstday.bring_to_life(seed=7, say=lambda line: None)
        except Exception as error:  # the churn model needs enough leavers: keep the rest
            print(f"(first day incomplete: {error}; tiers and figures only)")
            db.session.rollback()
            firstday.run_job("jobs.segments.refresh", "tiers (benchmark)")
            firstday.run_job("jobs.summaries.refresh", "figures (benchmark)")
        db.session.remove()


def chart_pages(app) -> list[str]:
    from sqlalchemy import select

    from backoffice.extensions import db
    from models import CampaignTarget

    pages = ["/", "/segments/tiers", "/churn/dashboard/"]
    with app.app_context():
        campaign = db.session.scalars(select(CampaignTarget.campaign_id)
                                      .order_by(CampaignTarget.campaign_id)
                                      .execution_options(crm_unscoped=True)).first()
        db.session.remove()
    if campaign:
        pages.append(f"/campaigns/evaluation/{campaign}")
    return pages


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#username", "senior")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.locator("form input[type=submit], form button[type=submit]").first.click()
    if "/login" in page.url:
        raise SystemExit("benchmark login failed")


def load_time(page, url: str) -> tuple[float, int]:
    """Milliseconds from navigation start until loaded and drawn; the number of charts."""
    page.goto(url, wait_until="commit")
    result = page.wait_for_function(DRAWN, polling="raf", timeout=60_000).json_value()
    return result["ms"], result["charts"]


def measure(browser, base: str, pages: list[str], runs: int) -> dict:
    """page -> {"cold": [ms...], "warm": [ms...], "charts": n}, and Plotly's bytes on the wire."""
    results = {path: {"cold": [], "warm": [], "charts": 0} for path in pages}
    wire = {}
    for _run in range(runs):
        for path in pages:
            context = browser.new_context(locale="zh-CN",
                                          viewport={"width": 1280, "height": 900})
            try:
                page = context.new_page()
                sign_in(page, base)

                def on_response(response):
                    if "/vendor/plotly-" in response.url:
                        wire["encoding"] = response.headers.get("content-encoding", "none")
                        wire["bytes"] = int(response.headers.get("content-length") or 0)

                page.on("response", on_response)
                cold, charts = load_time(page, base + path)
                warm, _charts = load_time(page, base + path)
                results[path]["cold"].append(cold)
                results[path]["warm"].append(warm)
                results[path]["charts"] = charts
            finally:
                context.close()
    return {"pages": results, "wire": wire}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("CRM_BENCH_DATABASE_URL"),
                        help="a scratch database (default: a temporary SQLite file); one "
                             "holding customers no benchmark loaded is refused")
    args = parser.parse_args()
    browser_path = os.environ.get("CRM_BROWSER", "/usr/bin/chromium")
    if not Path(browser_path).is_file():
        print(f"needs Chromium at {browser_path} (or set CRM_BROWSER)", file=sys.stderr)
        raise SystemExit(3)
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='crm-bench-')}/bench.db"
    app = build_app(url)
    seed(app, args.customers)
    bring_to_life(app)
    pages = chart_pages(app)

    from playwright.sync_api import sync_playwright

    from backoffice import charts
    from backoffice.compressed import gzipped
    from tests.browser.conftest import CHROMIUM_ARGS, serve

    bundles = {"now": charts.PLOTLY_BUNDLE, "baseline": full_bundle()}
    with serve(app, "chart-bench") as base, sync_playwright() as playwright:
        compress_ms, sizes = {}, {}
        for mode, path in bundles.items():  # compressed once per process, before measuring
            charts.PLOTLY_BUNDLE = path
            started = time.perf_counter()
            with app.test_request_context(headers={"Accept-Encoding": "gzip"}):
                charts.plotly_js(charts.plotly_version())
            compress_ms[mode] = (time.perf_counter() - started) * 1000
            sizes[mode] = (os.path.getsize(path), len(gzipped(path)[0]), charts.plotly_version())
        browser = playwright.chromium.launch(executable_path=browser_path, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            charts.PLOTLY_BUNDLE = bundles["now"]
            measure(browser, base, pages[:1], 1)  # warm up the server and the browser
            measured = {}
            for mode in MODES:
                charts.PLOTLY_BUNDLE = bundles[mode]
                measured[mode] = measure(browser, base, pages, args.runs)
        finally:
            charts.PLOTLY_BUNDLE = bundles["now"]
            browser.close()

    print(f"database: {url.split('@')[-1]}  customers: {args.customers}  runs per page: "
          f"{args.runs}  CPUs: {os.cpu_count()}  load average: "
          f"{os.getloadavg()[0]:.1f}")
    for mode, result in measured.items():
        wire = result["wire"]
        size, compressed, version = sizes[mode]
        print(f"  {mode:<9} {os.path.basename(bundles[mode])} (plotly.js {version}): "
              f"{size:>9,} bytes, {compressed:>9,} gzip-compressed (once, "
              f"{compress_ms[mode]:.0f} ms); on the wire: {wire.get('bytes', 0):>9,} bytes "
              f"({wire.get('encoding')})")
    print(f"{'page':<28}{'charts':>7}  {'now cold':>15}{'now warm':>15}"
          f"{'baseline cold':>17}{'baseline warm':>17}   (median / worst ms)")
    for path in pages:
        row = f"{path:<28}{measured['now']['pages'][path]['charts']:>7}  "
        for mode in MODES:
            for kind in ("cold", "warm"):
                times = measured[mode]["pages"][path][kind]
                cell = f"{statistics.median(times):.0f} / {max(times):.0f}"
                row += f"{cell:>15}" if mode == "now" else f"{cell:>17}"
        print(row)
    for mode in MODES:
        cold = [t for path in pages for t in measured[mode]["pages"][path]["cold"]]
        every = cold + [t for path in pages for t in measured[mode]["pages"][path]["warm"]]
        print(f"{mode}: worst cold load {max(cold):.0f} ms, worst of all {max(every):.0f} ms "
              f"over {len(every)} loads (target: under 1000 ms)")


if __name__ == "__main__":
    main()
