"""The spending report: one self-contained HTML page, `<data dir>/reports/index.html`.

Revenue, cost and profit per day; top models; top users by spend; trial usage; and a per-user section where a
reader picks a user and sees their spending per day. Charts are plotly figures with plotly.js inlined once (no
CDN: the page works offline and can be mailed as one file). Charts plot floats, which is fine for drawing; money is
shown to the cent (`usd`), with the exact decimal of the marts in each cell's tooltip (`title`); the exact values
stay in the tables and the finance exports. Every day from the first to the last is on the x-axis (a day without
requests is a zero: report_daily), today is marked as a partial day, and an axis of what cannot be negative (spend,
tokens) starts at zero.

This is the finance report: it shows every user. A user's own page is `user_pages.py`.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import plotly.graph_objects as go

from dagster_project.publish.files import write_text_atomic

TOP_MODELS = 10
TOP_USERS = 20
MAX_USERS_IN_PICKER = 1000  # the per-user section lists the biggest spenders first, up to this many
CHART_IDS = ("chart-daily", "chart-models", "chart-users", "chart-trial", "chart-user-spend")
DAYS_AXIS = {"type": "category", "title": "UTC day"}  # one slot per day (report_daily has every day), no hour ticks
NON_NEGATIVE = {"rangemode": "tozero"}  # spend and tokens: the axis starts at 0 (all zeros: 0..1, not -1..1)
PARTIAL = " (partial day)"  # the label of today on a days axis
COLORS = {"revenue": "#2563eb", "cost": "#f97316", "profit": "#16a34a", "trial": "#a855f7"}


@dataclass
class DashboardData:
    daily: list[dict]
    models: list[dict]
    users: list[dict]
    trial: list[dict]
    trial_status: dict
    per_user: dict[str, dict]
    totals: dict
    dimensions: list[dict]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    cursor = con.execute(sql, params or None)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def load_dashboard_data(con: duckdb.DuckDBPyConnection) -> DashboardData:
    """Read what the report shows from the marts (read-only): each dataset is a mart (the reporting ones are
    dbt_project/models/marts/reporting); here only which rows, in which order."""
    daily = _rows(con, """
        select date, is_partial_day, requests, active_users, provider_cost_usd, revenue_usd, profit_usd,
               trial_credit_usd, trial_tokens, paid_tokens, users_in_trial
        from report_daily order by date
    """)
    models = _rows(con, f"""
        select model, display_name, requests, users, total_tokens, user_charge_usd, markup_usd
        from model_popularity order by popularity_rank limit {TOP_MODELS}
    """)
    picker = f"""
        select user_id, email, plan, requests, total_tokens, spent_usd, trial_credit_usd
        from user_spending order by spent_usd desc, user_id limit {MAX_USERS_IN_PICKER}
    """
    users = _rows(con, picker)
    trial = daily  # report_daily holds the trial's tokens per day too
    trial_status = _rows(con, "select still_in_trial, trial_used_up, no_trial_used from trial_status")[0]
    picked = [u["user_id"] for u in users]
    per_user: dict[str, dict] = {u["user_id"]: {"dates": [], "spent": [], "tokens": [], "requests": []} for u in users}
    if picked:
        # only the picker's users' days (the ids already read: 1,000 users' rows, not every user's, and user_spending,
        # a view over every user, is not evaluated a second time). A filter on the list, not a semi-join: DuckDB
        # pushes it into the view (user_spending_daily builds every user's spine of days), a join it applies after
        # the view is built for every user (at 5M requests 0.7 CPU s, the filter 0.2)
        for row in _rows(con, """
            select user_id, date, is_partial_day, requests, total_tokens, spent_usd
            from user_spending_daily where list_contains($picked, user_id)
            order by user_id, date
        """, {"picked": picked}):
            series = per_user.get(row["user_id"])
            if series is not None:
                series["dates"].append(day_label(row))
                series["spent"].append(float(row["spent_usd"]))
                series["tokens"].append(int(row["total_tokens"]))
                series["requests"].append(int(row["requests"]))
    totals = _rows(con, """
        select requests, users, revenue_usd, provider_cost_usd as cost_usd, profit_usd, trial_credit_usd,
               first_request_date as first_date, last_request_date as last_date
        from run_summary
    """)[0]
    dimensions = _rows(con, """
        select dimension, value, requests, models, total_tokens, provider_cost_usd, user_charge_usd
        from pricing_dimension_usage order by dimension_order, requests desc, value
    """)
    return DashboardData(daily, models, users, trial, trial_status, per_user, totals, dimensions)


def usd(value: Decimal | None, places: int = 2) -> str:
    """$1,234.57 for display (tables show exact figures with `usd_exact`)."""
    if value is None:
        return ""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


def usd_exact(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize() if value else Decimal(0), "f")


class Money(str):
    """A table cell of money: shown to the cent, the exact value in its tooltip."""

    exact: str

    def __new__(cls, value: Decimal | None):
        cell = super().__new__(cls, usd(value))
        cell.exact = usd_exact(value)
        return cell


def day_label(row: dict) -> str:
    """The day as the x-axis and the tables show it: `2026-11-29 (partial day)` for today."""
    return row["date"].isoformat() + (PARTIAL if row.get("is_partial_day") else "")


def _zero_floor(values: list[float]) -> dict:
    """An axis that shows 0..1 rather than plotly's -1..1 when every value is 0."""
    return {"range": [0, 1]} if not any(values) else {}


def _layout(fig: go.Figure, title: str, **kwargs) -> go.Figure:
    settings = {"title": {"text": title, "x": 0.01}, "template": "plotly_white", "height": 380,
                "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "legend": {"orientation": "h", "y": -0.18}}
    fig.update_layout(**{**settings, **kwargs})
    return fig


def _opacity(rows: list[dict]) -> list[float]:
    return [0.45 if row.get("is_partial_day") else 1.0 for row in rows]


def daily_figure(data: DashboardData) -> go.Figure:
    dates = [day_label(row) for row in data.daily]
    fig = go.Figure()
    values = {key: [float(r[key]) for r in data.daily] for key in ("revenue_usd", "provider_cost_usd", "profit_usd")}
    fig.add_bar(x=dates, y=values["revenue_usd"], name="revenue",
                marker={"color": COLORS["revenue"], "opacity": _opacity(data.daily)})
    fig.add_bar(x=dates, y=values["provider_cost_usd"], name="provider cost",
                marker={"color": COLORS["cost"], "opacity": _opacity(data.daily)})
    fig.add_scatter(x=dates, y=values["profit_usd"], name="profit", mode="lines+markers",
                    line={"color": COLORS["profit"], "width": 3})
    # profit can be negative (the trial): no floor at 0, but no -1..1 either when every figure is 0
    every = [v for series in values.values() for v in series]
    return _layout(fig, "Revenue, provider cost and profit per day (USD)", barmode="group", xaxis=DAYS_AXIS,
                   yaxis={"title": "USD", "tickformat": "$,.2f", **_zero_floor(every)})


def models_figure(data: DashboardData) -> go.Figure:
    models = list(reversed(data.models))
    fig = go.Figure(go.Bar(
        x=[r["requests"] for r in models], y=[r["display_name"] or r["model"] for r in models], orientation="h",
        marker_color=COLORS["revenue"], customdata=[[float(r["user_charge_usd"])] for r in models],
        hovertemplate="%{y}: %{x:,} requests, revenue $%{customdata[0]:,.2f}<extra></extra>",
    ))
    return _layout(fig, f"Top {len(models)} models by requests", showlegend=False, xaxis=NON_NEGATIVE)


def users_figure(data: DashboardData) -> go.Figure:
    top = list(reversed(data.users[:TOP_USERS]))
    spent = [float(r["spent_usd"]) for r in top]
    fig = go.Figure(go.Bar(
        x=spent, y=[r["email"] or r["user_id"] for r in top], orientation="h",
        marker_color=COLORS["profit"], hovertemplate="%{y}: $%{x:,.2f}<extra></extra>",
    ))
    return _layout(fig, f"Top {len(top)} users by spend (USD)", showlegend=False, height=max(380, 22 * len(top)),
                   xaxis={**NON_NEGATIVE, "tickformat": "$,.2f", **_zero_floor(spent)})


def trial_figure(data: DashboardData) -> go.Figure:
    dates = [day_label(row) for row in data.trial]
    tokens = [int(r["trial_tokens"]) + int(r["paid_tokens"]) for r in data.trial]
    credit = [float(r["trial_credit_usd"]) for r in data.trial]
    fig = go.Figure()
    fig.add_bar(x=dates, y=[int(r["trial_tokens"]) for r in data.trial], name="tokens paid by the trial",
                marker={"color": COLORS["trial"], "opacity": _opacity(data.trial)})
    fig.add_bar(x=dates, y=[int(r["paid_tokens"]) for r in data.trial], name="tokens users paid for",
                marker={"color": COLORS["revenue"], "opacity": _opacity(data.trial)})
    fig.add_scatter(x=dates, y=credit, name="trial credit (USD)",
                    yaxis="y2", mode="lines+markers", line={"color": COLORS["cost"]})
    return _layout(fig, "Free-trial usage per day", barmode="stack", xaxis=DAYS_AXIS,
                   yaxis={"title": "tokens", **NON_NEGATIVE, **_zero_floor(tokens)},
                   yaxis2={"title": "USD", "overlaying": "y", "side": "right", "tickformat": "$,.2f", **NON_NEGATIVE,
                           **_zero_floor(credit)})


def user_figure(data: DashboardData, user_id: str | None) -> go.Figure:
    series = data.per_user.get(user_id or "", {"dates": [], "spent": [], "tokens": []})
    fig = go.Figure()
    fig.add_bar(x=series["dates"], y=series["spent"], name="spent (USD)", marker_color=COLORS["revenue"])
    fig.add_scatter(x=series["dates"], y=series["tokens"], name="tokens", yaxis="y2", mode="lines+markers",
                    line={"color": COLORS["trial"]})
    return _layout(fig, "Spending per day", xaxis=DAYS_AXIS, yaxis={**USER_SPEND_AXIS, **_zero_floor(series["spent"])},
                   yaxis2=USER_TOKENS_AXIS)


# The per-user chart's axes (the picker's script redraws with the same layout): both start at 0, and a user whose
# every figure is 0 (a trial-only user) gets 0..1, not -1..1.
USER_SPEND_AXIS = {"title": "USD", "rangemode": "tozero", "tickformat": "$,.2f"}
USER_TOKENS_AXIS = {"title": "tokens", "overlaying": "y", "side": "right", "rangemode": "tozero"}


def _chart(fig: go.Figure, div_id: str, *, with_plotlyjs: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=True if with_plotlyjs else False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _cell(cell: object, numeric: bool) -> str:
    title = f' title="{html.escape(cell.exact)} USD, exact"' if isinstance(cell, Money) else ""
    return f'<td class="{"num" if numeric else ""}"{title}>{html.escape(str(cell))}</td>'


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(_cell(cell, i >= numeric_from) for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f8fafc;color:#0f172a}
header{background:#0f172a;color:#f8fafc;padding:20px 32px}header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;color:#cbd5e1}main{padding:16px 32px;max-width:1280px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:18px;margin:0 0 8px}.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px 16px;min-width:150px}
.kpi b{display:block;font-size:22px}.kpi span{color:#64748b;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin-top:8px}th,td{padding:4px 10px;border-bottom:1px solid #e2e8f0}
th{text-align:left;background:#f1f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
select{font-size:15px;padding:4px 8px}.note{color:#64748b;font-size:13px}
"""

USER_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('per-user-data').textContent);
  var select = document.getElementById('user-select');
  var summary = document.getElementById('user-summary');
  function show(userId) {
    var s = data.series[userId] || {dates: [], spent: [], tokens: []};
    var u = data.users[userId] || {};
    var chart = document.getElementById('chart-user-spend');
    var layout = chart.layout;
    var zero = !s.spent.some(function (v) { return v > 0; });  // a trial-only user: 0..1, not -1..1
    layout.yaxis.autorange = !zero;
    if (zero) { layout.yaxis.range = [0, 1]; }
    Plotly.react(chart, [
      {type: 'bar', x: s.dates, y: s.spent, name: 'spent (USD)', marker: {color: '#2563eb'}},
      {type: 'scatter', mode: 'lines+markers', x: s.dates, y: s.tokens, name: 'tokens', yaxis: 'y2',
       line: {color: '#a855f7'}}
    ], layout);
    summary.textContent = (u.email || userId) + ' (' + (u.plan || 'no plan') + '): spent ' + u.spent +
      ' over ' + u.requests + ' requests and ' + u.tokens + ' tokens; the free trial paid ' + u.trial + '.';
    summary.title = 'exact: spent ' + u.spent_exact + ' USD, the free trial paid ' + u.trial_exact + ' USD';
  }
  // index.html#user=<user_id> opens the page on that user (a link to send a user their own spending).
  var wanted = decodeURIComponent((location.hash.match(/^#user=(.+)$/) || [])[1] || '');
  if (wanted && data.users[wanted]) { select.value = wanted; }
  select.addEventListener('change', function () {
    history.replaceState(null, '', '#user=' + encodeURIComponent(select.value));
    show(select.value);
  });
  if (select.value) { show(select.value); }
})();
"""


def render_report(data: DashboardData, *, generated_at: datetime | None = None) -> str:
    """The whole HTML page as a string."""
    generated_at = generated_at or datetime.now(UTC)
    t = data.totals
    kpis = [
        ("revenue", usd(t["revenue_usd"])), ("provider cost", usd(t["cost_usd"])), ("profit", usd(t["profit_usd"])),
        ("trial credit given", usd(t["trial_credit_usd"])), ("requests", f"{t['requests']:,}"),
        ("users", f"{t['users']:,}"),
    ]
    first_user = data.users[0]["user_id"] if data.users else None
    per_user_json = json.dumps({
        "series": data.per_user,
        "users": {
            u["user_id"]: {"email": u["email"], "plan": u["plan"], "spent": usd(u["spent_usd"]),
                           "spent_exact": usd_exact(u["spent_usd"]), "requests": u["requests"],
                           "tokens": f"{int(u['total_tokens']):,}", "trial": usd(u["trial_credit_usd"]),
                           "trial_exact": usd_exact(u["trial_credit_usd"])}
            for u in data.users
        },
    }).replace("</", "<\\/")
    options = "".join(
        f'<option value="{html.escape(u["user_id"])}">{html.escape(u["email"] or u["user_id"])} '
        f'({html.escape(usd(u["spent_usd"]))})</option>'
        for u in data.users
    )
    ts = data.trial_status
    sections = [
        f"""<section><h2>Revenue, cost and profit per day</h2>
        <p class="note">Revenue is what users were charged (markup, minimum charge and free trial applied); profit is
        revenue minus what the providers charge us, negative on days when the trial gives away more than the markup
        earns.</p>{_chart(daily_figure(data), "chart-daily", with_plotlyjs=True)}
        <p class="note">The last 14 days, to the cent (hover a figure for its exact value; the finance exports have
        every day, exact). A day without requests shows 0; today's figures are a partial day.</p>
        {_table(["date", "requests", "active users", "revenue USD", "provider cost USD", "profit USD"],
                [[day_label(r), f"{r['requests']:,}", r["active_users"], Money(r["revenue_usd"]),
                  Money(r["provider_cost_usd"]), Money(r["profit_usd"])] for r in data.daily[-14:]])}
        </section>""",
        f"""<section><h2>Top models</h2>{_chart(models_figure(data), "chart-models", with_plotlyjs=False)}
        {_table(["model", "requests", "users", "tokens", "revenue USD", "profit USD"],
                [[r["model"], f"{r['requests']:,}", r["users"], f"{int(r['total_tokens']):,}",
                  Money(r["user_charge_usd"]), Money(r["markup_usd"])] for r in data.models])}</section>""",
        f"""<section><h2>Top users by spend</h2>{_chart(users_figure(data), "chart-users", with_plotlyjs=False)}
        </section>""",
        f"""<section><h2>Free-trial usage</h2>
        <p class="note">Users still inside their free trial: {ts["still_in_trial"]:,}; users whose trial is used up:
        {ts["trial_used_up"]:,}; users without trial tokens: {ts["no_trial_used"]:,}.</p>
        {_chart(trial_figure(data), "chart-trial", with_plotlyjs=False)}</section>""",
        f"""<section id="pricing"><h2>How requests were priced</h2>
        <p class="note">The service tier each provider reported (flex and batch cost less, priority more), the
        time-of-day window of the price (e.g. off-peak hours), the long-context tier (a prompt above the threshold
        prices the whole request higher) and cache writes kept for an hour. Each group adds up to every request.</p>
        {_table(["dimension", "value", "requests", "models", "tokens", "provider cost USD", "revenue USD"],
                [[r["dimension"].replace("_", " "), r["value"], f"{r['requests']:,}", r["models"],
                  f"{int(r['total_tokens']):,}", Money(r["provider_cost_usd"]), Money(r["user_charge_usd"])]
                 for r in data.dimensions], numeric_from=2)}</section>""",
        f"""<section id="per-user"><h2>Spending per user</h2>
        <label for="user-select">User </label><select id="user-select">{options}</select>
        <p id="user-summary" class="note"></p>
        {_chart(user_figure(data, first_user), "chart-user-spend", with_plotlyjs=False)}
        <script type="application/json" id="per-user-data">{per_user_json}</script>
        <script>{USER_SCRIPT}</script></section>""",
    ]
    period = f"{t['first_date']} to {t['last_date']}" if t["first_date"] else "no requests yet"
    kpi_boxes = "".join(
        f'<div class="kpi"><b>{html.escape(value)}</b><span>{html.escape(label)}</span></div>' for label, value in kpis
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>AI usage: revenue and spending</title><style>{CSS}</style></head>
<body><header><h1>AI usage: revenue and spending</h1>
<p>Requests from {html.escape(period)} (UTC). Generated {generated_at:%Y-%m-%d %H:%M} UTC from the warehouse marts.</p>
</header><main><div class="kpis">{kpi_boxes}</div>
{"".join(sections)}
</main></body></html>
"""


def write_report(con: duckdb.DuckDBPyConnection, reports_dir: Path) -> tuple[Path, DashboardData]:
    """Render the report from the marts and write `reports_dir/index.html` atomically."""
    data = load_dashboard_data(con)
    path = write_text_atomic(reports_dir / "index.html", render_report(data))
    return path, data
