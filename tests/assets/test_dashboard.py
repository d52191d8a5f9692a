"""The spending report: self-contained HTML whose plotly charts render in a real browser (headless Chromium)."""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.publish.assets import spending_report
from dagster_project.publish.dashboard import CHART_IDS
from dagster_project.resources import WarehouseResource
from tests.assets.clock import fix_as_of

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).exists()), None)


@pytest.fixture(scope="module")
def report(built_warehouse: Path) -> Path:
    """The report the end-to-end run wrote (the asset is part of the default graph)."""
    return built_warehouse / "reports" / "index.html"


class ChartFinder(html.parser.HTMLParser):
    """Which chart containers (by id) hold a rendered plotly `svg.main-svg`; and the text of #user-summary."""

    def __init__(self):
        super().__init__()
        self.stack: list[str | None] = []
        self.rendered: set[str] = set()
        self.summary = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and "main-svg" in (attrs.get("class") or "").split():
            self.rendered.update(i for i in self.stack if i in CHART_IDS)
        if tag not in ("br", "img", "input", "meta", "link", "hr", "path", "rect", "line", "circle", "use",
                       "stop", "image"):
            self.stack.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if self.stack and tag not in ("path", "rect", "line", "circle", "use", "stop", "image"):
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "user-summary":
            self.summary += data


def test_report_is_one_offline_file_with_every_chart(report):
    text = report.read_text(encoding="utf-8")
    assert "<script src=" not in text and "<link" not in text  # nothing to fetch: plotly.js is inline
    assert "plotly.js v" in text and text.count("Plotly.newPlot(") >= len(CHART_IDS)
    for chart in CHART_IDS:
        assert f'id="{chart}"' in text, chart
    assert "past@example.com" in text and "0.200431818182" in text  # exact figures in the tables


def test_asset_writes_the_report_and_shows_a_preview(built_warehouse, tmp_path):
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    result = dg.materialize([spending_report], resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))})
    assert result.success
    metadata = result.asset_materializations_for_node("spending_report")[0].metadata
    assert metadata["report_path"].value == str(tmp_path / "reports" / "index.html")
    assert (tmp_path / "reports" / "index.html").exists()
    preview = metadata["preview_last_7_days"].value
    assert "| 2026-11-21 | 4 | 0.200431818182 | 0.18045 | 0.019981818182 |" in preview
    assert "past@example.com" in metadata["preview_top_users"].value


def dump_dom(url: str, profile: Path) -> str:
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium; .ci/run installs it)")
def test_charts_render_in_headless_chromium(report, tmp_path):
    finder = ChartFinder()
    finder.feed(dump_dom(report.as_uri(), tmp_path / "profile"))
    assert finder.rendered == set(CHART_IDS)
    # the per-user section's script ran: the biggest spender is shown first
    assert "past@example.com (pro): spent $0.11 over 4 requests" in finder.summary


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium; .ci/run installs it)")
def test_a_link_opens_the_page_on_one_user(report, tmp_path):
    finder = ChartFinder()
    finder.feed(dump_dom(report.as_uri() + "#user=usr_t95", tmp_path / "profile"))
    assert "chart-user-spend" in finder.rendered
    assert "t95@example.com (free): spent $0.09 over 2 requests" in finder.summary


def test_the_report_shows_how_requests_were_priced(report, con):
    """The fixture's 13 priced requests are all standard-tier, all-day, base-tier; each dimension adds up to them."""
    rows = con.execute(
        "select dimension, value, requests, user_charge_usd::varchar from pricing_dimension_usage "
        "order by dimension_order, requests desc, value").fetchall()
    total, revenue = con.execute("select count(*), sum(user_charge_usd)::varchar from ai_usage_analytics").fetchone()
    assert [row[:2] for row in rows if row[0] != "cache_write_lifetime"] == [
        ("service_tier", "default"), ("time_window", "all day"), ("long_context_tier", "base")]
    for dimension in ("service_tier", "time_window", "long_context_tier", "cache_write_lifetime"):
        assert sum(row[2] for row in rows if row[0] == dimension) == total, dimension
    assert rows[0][2:] == (total, revenue)
    section = report.read_text(encoding="utf-8").split('<section id="pricing">')[1].split("</section>")[0]
    assert "How requests were priced" in section
    for dimension, value, requests, _ in rows:
        assert f"<td class=\"\">{dimension.replace('_', ' ')}</td><td class=\"\">{value}</td>" \
               f"<td class=\"num\">{requests:,}</td>" in section


class TickFinder(html.parser.HTMLParser):
    """The axis tick labels Chromium drew, by chart id and axis class (`xtick`, `ytick`, `y2tick`)."""

    def __init__(self, chart_ids):
        super().__init__()
        self.chart_ids = set(chart_ids)
        self.stack: list[tuple[str, str | None, str]] = []
        self.ticks: dict[tuple[str, str], list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in ("br", "img", "input", "meta", "link", "hr", "path", "rect", "line", "circle", "use", "stop",
                       "image"):
            self.stack.append((tag, attrs.get("id"), attrs.get("class") or ""))

    def handle_endtag(self, tag):
        if self.stack and tag not in ("path", "rect", "line", "circle", "use", "stop", "image"):
            self.stack.pop()

    def handle_data(self, data):
        chart = next((i for _, i, _ in self.stack if i in self.chart_ids), None)
        axis = next((c for _, _, c in reversed(self.stack) if c in ("xtick", "ytick", "y2tick")), None)
        if chart and axis and self.stack and self.stack[-1][0] == "text":
            self.ticks.setdefault((chart, axis), []).append(data)


def tick_value(text: str) -> float:
    return float(text.replace("\u2212", "-").replace("$", "").replace(",", "").replace("k", "e3"))


@pytest.fixture(scope="module")
def gap_report(built_warehouse: Path, tmp_path_factory) -> Path:
    """The report of a copy of the warehouse with one more day, 2026-11-23, after a day without requests (11-22),
    read on 2026-11-23 (so 11-23 is today's partial day)."""
    import duckdb

    folder = tmp_path_factory.mktemp("gap_report")
    shutil.copy(built_warehouse / "warehouse.duckdb", folder / "warehouse.duckdb")
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-23")
        con.execute("""insert into ai_revenue_analytics by name select date '2026-11-23' as date, 1 as requests,
                       1 as billed_requests, 0 as failed_requests, 1500 as total_tokens, 1 as active_users,
                       0.00045 as provider_cost_usd, 0.001 as revenue_usd, 0.00055 as profit_usd,
                       0 as trial_credit_usd""")
        con.execute("""insert into user_ai_usage_summary by name select 'usr_past' as user_id,
                       date '2026-11-23' as date, 1 as requests, 1500 as total_tokens, 0 as trial_tokens,
                       0.001 as user_charge_usd,
                       0 as trial_credit_usd""")
    result = dg.materialize([spending_report], resources={"warehouse": WarehouseResource(data_dir=str(folder))})
    assert result.success
    return folder / "reports" / "index.html"


def test_money_is_shown_to_the_cent_with_the_exact_value_on_hover(report):
    text = report.read_text(encoding="utf-8")
    assert '<td class="num" title="0.200431818182 USD, exact">$0.20</td>' in text
    assert '<td class="num" title="-0.4514 USD, exact">-$0.45</td>' in text
    # no cell shows more than two decimals
    assert not re.findall(r'<td class="num"[^>]*>-?\$?[0-9,]*\.[0-9]{3,}</td>', text)


def test_a_day_without_requests_is_a_zero_and_today_is_a_partial_day(gap_report):
    text = gap_report.read_text(encoding="utf-8")
    assert ('<td class="">2026-11-22</td><td class="num">0</td><td class="num">0</td>'
            '<td class="num" title="0 USD, exact">$0.00</td>') in text
    assert ('<td class="">2026-11-23 (partial day)</td><td class="num">1</td><td class="num">1</td>'
            '<td class="num" title="0.001 USD, exact">$0.00</td>') in text
    daily = text.split('id="chart-daily"')[1]
    assert '"x":["2026-11-20","2026-11-21","2026-11-22","2026-11-23 (partial day)"]' in daily
    # the per-user picker's series too: usr_past had no request on 11-22, a zero there
    per_user = json.loads(re.search(r'id="per-user-data">(.*?)</script>', text).group(1))
    assert per_user["series"]["usr_past"]["dates"] == ["2026-11-20", "2026-11-21", "2026-11-22",
                                                       "2026-11-23 (partial day)"]
    assert per_user["series"]["usr_past"]["spent"] == [0.001, 0.1135, 0.0, 0.001]


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium; .ci/run installs it)")
def test_every_day_is_on_the_axis_and_spend_axes_start_at_zero_in_chromium(gap_report, tmp_path):
    finder = TickFinder(CHART_IDS)
    finder.feed(dump_dom(gap_report.as_uri() + "#user=usr_new", tmp_path / "profile"))
    assert finder.ticks[("chart-daily", "xtick")] == ["2026-11-20", "2026-11-21", "2026-11-22",
                                                       "2026-11-23 (partial day)"]
    assert finder.ticks[("chart-trial", "xtick")] == finder.ticks[("chart-daily", "xtick")]
    assert min(tick_value(t) for t in finder.ticks[("chart-trial", "ytick")]) == 0  # tokens: from 0, none below
    # usr_new used only the trial: its spend axis is $0.00..$1.00, not -1..1; its tokens axis starts at 0
    spend = [tick_value(t) for t in finder.ticks[("chart-user-spend", "ytick")]]
    assert (min(spend), max(spend)) == (0, 1)
    assert min(tick_value(t) for t in finder.ticks[("chart-user-spend", "y2tick")]) == 0


def test_the_picked_users_days_are_the_ones_a_semi_join_read(built_warehouse, tmp_path):
    """The picker's users' days are read with a filter on the list of their ids (pushed into user_spending_daily)
    instead of the semi-join of commit 5872a34: the same rows, on the fixture and with user ids that need
    quoting."""
    import duckdb

    from dagster_project.publish.dashboard import day_label, load_dashboard_data

    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")
        con.execute("update user_ai_usage_summary set user_id = 'usr_''q\"<x>' where user_id = 'usr_past'")
        con.execute("update ai_usage_analytics set user_id = 'usr_''q\"<x>' where user_id = 'usr_past'")
        data = load_dashboard_data(con)
        picked = [u["user_id"] for u in data.users]
        semi_join = {user_id: {"dates": [], "spent": [], "tokens": [], "requests": []} for user_id in picked}
        for user_id, day, partial, requests, tokens, spent in con.execute("""
            select user_id, date, is_partial_day, requests, total_tokens, spent_usd
            from user_spending_daily where user_id in (select unnest($picked))
            order by user_id, date
        """, {"picked": picked}).fetchall():
            series = semi_join[user_id]
            series["dates"].append(day_label({"date": day, "is_partial_day": partial}))
            series["spent"].append(float(spent))
            series["tokens"].append(int(tokens))
            series["requests"].append(int(requests))
    assert "usr_'q\"<x>" in picked and len(semi_join["usr_'q\"<x>"]["dates"]) == 2
    assert data.per_user == semi_join  # the report is made of `data`: the same report
