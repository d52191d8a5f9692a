"""The spending report: self-contained HTML whose plotly charts render in a real browser (headless Chromium)."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.publish.assets import spending_report
from dagster_project.publish.dashboard import CHART_IDS
from dagster_project.resources import WarehouseResource

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
    assert "past@example.com (pro): spent 0.1145 USD over 4 requests" in finder.summary


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium; .ci/run installs it)")
def test_a_link_opens_the_page_on_one_user(report, tmp_path):
    finder = ChartFinder()
    finder.feed(dump_dom(report.as_uri() + "#user=usr_t95", tmp_path / "profile"))
    assert "chart-user-spend" in finder.rendered
    assert "t95@example.com (free): spent 0.086931818182 USD over 2 requests" in finder.summary


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
