"""A wall's figures as what the page draws: big numbers (KPIs) and dark charts for a TV.

The same payload fills the page when it is first served and every refresh after it (the JSON
endpoint), so the page and its refresh can never disagree. Charts are the app's own builders
(``backoffice.charts``: escaped labels, "empty" marks) with a dark, large-type layout on top,
drawn by ``static/crm-datawall.js`` with the app's Plotly. Tile titles are HTML, not Plotly
titles, so they keep one size and stay readable from across the room.
"""
from __future__ import annotations

from flask_babel import gettext as _

from backoffice import charts
from backoffice.datawall.figures import CHURN_TIERS, month_key
from backoffice.formatting import local_time, local_time_seconds, money
from models.base import utcnow
from models.choices import INTERACTION_CHANNELS, TIERS

TEXT = "#dce6f2"
GRID = "rgba(220, 230, 242, 0.14)"
COLOURS = ["#4cc9f0", "#f9c74f", "#90be6d", "#f94144", "#b388eb", "#f8961e", "#43aa8b",
           "#577590"]
FONT = charts._LAYOUT["font"]["family"]


def dark(figure: dict, counts: bool = False) -> dict:
    """The figure restyled for a dark wall seen from a distance (large ticks and legend).
    ``counts``: the values are whole numbers, written on the bars, with whole-number ticks (a
    branch with one customer must not read "0.2, 0.4 …")."""
    layout = figure["layout"]
    axis = {"automargin": True, "gridcolor": GRID, "zerolinecolor": GRID, "linecolor": GRID,
            "tickfont": {"size": 18, "color": TEXT}}
    for name in ("xaxis", "yaxis"):
        layout[name] = {**layout.get(name, {}), **axis}
    layout.update(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                  colorway=COLOURS, font={"family": FONT, "size": 18, "color": TEXT},
                  margin={"l": 8, "r": 8, "t": 8, "b": 8, "pad": 4})
    layout["legend"] = {**layout.get("legend", {}), "font": {"size": 18, "color": TEXT}}
    layout.pop("title", None)
    # Horizontal bars (funnels, see charts.funnel) carry their counts on x and their labels on y.
    horizontal = any(trace.get("orientation") == "h" for trace in figure["data"])
    value_axis, value = ("xaxis", "x") if horizontal else ("yaxis", "y")
    for trace in figure["data"]:
        if trace["type"] == "pie":
            trace["textfont"] = {"size": 20, "color": "#0b1220"}
        elif trace["type"] == "bar" and "text" in trace:
            # Funnels write their own text (count and share of the first stage): dark on the
            # bar, light beside a bar too short to hold it.
            trace.update(insidetextfont={"size": 20, "color": "#0b1220"},
                         outsidetextfont={"size": 20, "color": TEXT})
        elif counts and trace["type"] == "bar":
            trace.update(texttemplate="%{" + value + ":,}", textposition="auto",
                         textfont={"size": 22, "color": "#0b1220"})
    if counts:
        values = [v for trace in figure["data"] for v in trace.get(value, []) if v is not None
                  and not isinstance(v, str)]
        layout[value_axis].update(tickformat=",d", rangemode="tozero")
        if values and max(values) < 5:
            layout[value_axis]["dtick"] = 1
    return figure


def _count(value) -> str:
    return f"{value:,}"


def _rate(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _label(mapping, code) -> str:
    return str(mapping.get(code, code or _("Unassigned")))


def kpis(tiles: dict, refreshed_at) -> list[dict]:
    """The big numbers, one per tile that has one, with a line of context under each."""
    month = month_key(refreshed_at)
    out = []
    movement, flow = tiles.get("movement"), tiles.get("flow")
    if "tiers" in tiles:
        tiers = tiles["tiers"]
        note = ""
        if movement and month in movement["months"]:
            at = movement["months"].index(month)
            note = _("This month: %(new)s new, %(lost)s lost", new=movement["new"][at],
                     lost=movement["lost"][at])
        out.append({"key": "customers", "label": _("Customers"),
                    "value": _count(tiers["total"]), "note": note})
        notes = []
        if flow and month in flow["months"]:
            notes.append(_("Net inflow this month: %(amount)s",
                           amount=money(flow["net"][flow["months"].index(month)])))
        if tiers["assets_partial"]:
            notes.append(_("Tiers whose assets you may not see are left out."))
        out.append({"key": "assets", "label": _("Total financial assets (CNY)"),
                    "value": money(tiers["assets"]) if tiers["assets"] is not None else "—",
                    "note": " ".join(notes)})
    if "tasks" in tiles:
        tasks = tiles["tasks"]
        out.append({"key": "overdue", "label": _("Overdue tasks"),
                    "value": _count(tasks["overdue"]),
                    "note": _("%(count)s open, not yet due", count=_count(tasks["open"]))})
    if "churn" in tiles:
        counts = tiles["churn"]["counts"]
        out.append({"key": "churn", "label": _("P1 high value, high risk"),
                    "value": _count(counts["P1"]),
                    "note": _("Churn warnings P1–P4: %(count)s",
                              count=_count(sum(counts.values())))})
    if "complaints" in tiles:
        complaints = tiles["complaints"]
        opened = complaints["opened"][complaints["months"].index(month)] \
            if month in complaints["months"] else 0
        out.append({"key": "complaints", "label": _("Open complaints"),
                    "value": _count(complaints["still_open"]),
                    "note": _("Opened this month: %(count)s", count=_count(opened))})
    if "campaigns" in tiles:
        rates = tiles["campaigns"]["rates"]
        out.append({"key": "conversion", "label": _("Campaign conversion rate"),
                    "value": _rate(rates["target"]),
                    "note": _("Control group converts %(rate)s", rate=_rate(rates["control"]))})
    return out


def _tiers_chart(data):
    codes = [code for code in (*TIERS, "") if code in data["counts"]]
    codes += [code for code in data["counts"] if code not in codes]
    return charts.bar([_label(TIERS, c) for c in codes], [data["counts"][c] for c in codes])


def _movement_chart(data):
    figure = charts.line(data["months"], {_("New customers"): data["new"],
                                          _("Lost customers"): data["lost"]})
    figure["layout"]["xaxis"] = {"type": "category"}
    return figure


def _flow_chart(data):
    figure = charts.bar_groups(data["months"], {_("Money in"): data["in"],
                                                _("Money out"): data["out"]})
    figure["layout"]["xaxis"] = {"type": "category"}
    return figure


def _tasks_chart(data):
    return charts.bar([_("Overdue"), _("Open, not yet due")], [data["overdue"], data["open"]])


def _churn_chart(data):
    return charts.bar(list(CHURN_TIERS), [data["counts"][t] for t in CHURN_TIERS])


def _complaints_chart(data):
    figure = charts.line(data["months"], {_("Complaints opened"): data["opened"]})
    figure["layout"]["xaxis"] = {"type": "category"}
    return figure


def _campaigns_chart(data):
    stages = data["stages"]["target"]
    names = [_("Target group"), _("Contacted"), _("Responded"), _("Converted")]
    return charts.funnel(names, [stages[s] for s in ("targeted", "contacted", "responded",
                                                     "converted")])


def _channels_chart(data):
    codes = sorted(data["counts"], key=lambda code: -data["counts"][code])
    return charts.pie([_label(INTERACTION_CHANNELS, c) for c in codes],
                      [data["counts"][c] for c in codes])


# tile -> (its title, its chart, whether it counts whole things)
CHARTS = {
    "tiers": (lambda: _("Customers by tier"), _tiers_chart, True),
    "flow": (lambda: _("Money in and out per month (CNY)"), _flow_chart, False),
    "movement": (lambda: _("New and lost customers per month"), _movement_chart, True),
    "tasks": (lambda: _("Open and overdue tasks"), _tasks_chart, True),
    "churn": (lambda: _("Customers by warning tier"), _churn_chart, True),
    "complaints": (lambda: _("Complaints opened per month"), _complaints_chart, True),
    "campaigns": (lambda: _("Campaign results (12 months)"), _campaigns_chart, False),
    "channels": (lambda: _("Interactions by channel (12 months)"), _channels_chart, False),
}


def chart_tiles(tiles: dict) -> list[dict]:
    out = []
    for key, data in tiles.items():
        title, build, counts = CHARTS[key]
        figure = dark(build(data), counts=counts)
        if figure.get("empty"):
            figure["empty"]["text"] = _("Nothing to show yet.")
        out.append({"key": key, "title": title(), "figure": figure})
    return out


def payload(wall, data: dict, *, computed: bool) -> dict:
    """Everything the wall shows, as JSON-ready values."""
    if wall.branch_id is None:
        title = _("Whole bank")
    else:
        title = wall.branch_name
    refreshed = data["refreshed_at"]
    if refreshed:
        as_of = _("Figures as of %(time)s.", time=local_time(refreshed))
    elif computed:
        as_of = _("No figures in this wall's scope yet.")
    else:
        as_of = _("The figures have not been computed yet.")
    return {"wall": wall.key, "title": title, "as_of": as_of,
            "updated": _("Updated at %(time)s", time=local_time_seconds(utcnow())[11:]),
            "kpis": kpis(data["tiles"], refreshed), "charts": chart_tiles(data["tiles"])}
