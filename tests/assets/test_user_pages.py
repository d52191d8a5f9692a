"""Each user's own spending page: one file per user, only that user's figures, an unguessable name, linked from
nothing; checked by exact values and in headless Chromium."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.publish.assets import user_spending_pages
from dagster_project.publish.user_pages import write_user_pages
from dagster_project.resources import WarehouseResource
from tests.assets.clock import fix_as_of
from tests.assets.test_dashboard import CHROMIUM, TickFinder, dump_dom, tick_value

USERS = ("usr_past", "usr_t95", "usr_new", "usr_az", "usr_ghost")
EMAILS = {"usr_past": "past@example.com", "usr_t95": "t95@example.com", "usr_new": "new@example.com",
          "usr_az": "az@example.com"}
# each user's exact spend, as its page shows it on hover: none of them may appear on another user's page
EXACT_SPENT = {"usr_past": "0.1145", "usr_t95": "0.086931818182"}


@pytest.fixture(scope="module")
def pages(built_warehouse: Path, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The pages of a copy of the warehouse read on 2026-11-21 (so November is the quota month and 11-21 today)."""
    folder = tmp_path_factory.mktemp("user_pages")
    shutil.copy(built_warehouse / "warehouse.duckdb", folder / "warehouse.duckdb")
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")
        write_user_pages(con, folder)
    with open(folder / "user_pages.csv", newline="") as f:
        by_user = {row["user_id"]: folder / row["page"] for row in csv.DictReader(f)}
    return folder, by_user


def text_of(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def test_one_page_per_user_with_a_name_made_from_the_secret(pages):
    folder, by_user = pages
    assert sorted(by_user) == sorted(USERS)
    key = bytes.fromhex((folder / "user_pages.key").read_text())
    assert len(key) == 32
    for user_id, page in by_user.items():
        assert page.parent == folder / "user_pages"
        assert page.name == hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:32] + ".html"
        assert user_id not in page.name and page.exists()
    assert sorted(p.name for p in (folder / "user_pages").iterdir()) == sorted(
        [p.name for p in by_user.values()] + ["plotly.min.js"])
    # the secret and the list of links are for the operator only, and outside the folder people are sent to
    assert (folder / "user_pages.key").stat().st_mode & 0o777 == 0o600
    assert (folder / "user_pages.csv").stat().st_mode & 0o777 == 0o600


def test_a_page_holds_only_its_users_data(pages):
    _, by_user = pages
    for user_id, page in by_user.items():
        text = text_of(page)
        for other in USERS:
            if other != user_id:
                assert other not in text, (user_id, other)
                assert EMAILS.get(other, "\0") not in text, (user_id, other)
                assert EXACT_SPENT.get(other, "\0") not in text, (user_id, other)
        series = json.loads(re.search(r'id="user-data">(.*?)</script>', text).group(1))
        assert len(series["dates"]) == len(series["spent"]) == len(series["tokens"])


def test_the_page_shows_spend_trial_left_quota_use_and_alerts_exactly(pages):
    _, by_user = pages
    t95 = text_of(by_user["usr_t95"])
    assert "t95@example.com (free): 2 requests,\n117,000 tokens, up to 2026-11-21 (partial day)" in t95
    kpis = re.findall(r'<div class="kpi" title="([^"]*)"><b>([^<]*)</b><span>([^<]*)</span>', t95)
    assert kpis == [
        ("0.086931818182", "$0.09", "spent in all"),
        ("0.086931818182", "$0.09", "spent in 2026-11"),
        ("", "0 of 100,000", "free-trial tokens left"),
        ("117,000 of 100,000 tokens", "117.0%", "token quota used in 2026-11"),
        ("$0.09 of $0.50", "17.4%", "spend quota used in 2026-11"),
    ]
    assert re.findall(r"<li>([^<]*)</li>", t95) == [
        "2026-11-21 09:00 UTC: 100% of the monthly token quota reached (117,000 of 100,000 tokens in 2026-11)",
        "2026-11-21 09:00 UTC: free trial used up (100,000 tokens)",
        "2026-11-20 10:00 UTC: 80% of the monthly token quota reached (95,000 of 100,000 tokens in 2026-11)",
    ]
    assert ('<tr><td>2026-11-21 (partial day)</td><td class="num">1</td><td class="num">22,000</td>'
            '<td class="num">5,000</td><td class="num" title="0.086931818182 USD, exact">$0.09</td></tr>') in t95

    new = text_of(by_user["usr_new"])  # a trial-only user: nothing spent, most of the trial left, no alert
    assert [k[1:] for k in re.findall(r'<div class="kpi" title="([^"]*)"><b>([^<]*)</b><span>([^<]*)</span>',
                                      new)] == [
        ("$0.00", "spent in all"), ("$0.00", "spent in 2026-11"), ("98,500 of 100,000", "free-trial tokens left"),
        ("1.5%", "token quota used in 2026-11"), ("0.0%", "spend quota used in 2026-11")]
    assert re.findall(r"<li>([^<]*)</li>", new) == ["none"]
    ghost = text_of(by_user["usr_ghost"])  # not in the users export: no plan, no quota, no trial
    assert "no quota" in ghost and "0 of 0" in ghost


def test_unchanged_pages_are_not_rewritten_and_a_gone_user_loses_the_page(pages, built_warehouse, tmp_path):
    folder, by_user = pages
    shutil.copytree(folder, tmp_path / "data")
    data = tmp_path / "data"
    (data / "user_pages" / ".0123.html.99.tmp").write_text("half a page of a killed run")
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        again = write_user_pages(con, data)
        assert not list((data / "user_pages").glob(".*"))
        assert (again.pages, again.rewritten, again.removed) == (5, 0, 0)
        con.execute("delete from ai_usage_analytics where user_id = 'usr_az'")
        con.execute("delete from user_ai_usage_summary where user_id = 'usr_az'")
        after = write_user_pages(con, data)
    assert (after.pages, after.removed) == (4, 1)
    assert not (data / "user_pages" / by_user["usr_az"].name).exists()


def test_nothing_public_links_to_the_pages(built_warehouse):
    """The run writes the pages (the asset is in the graph), and neither the report nor the exports name them."""
    with open(built_warehouse / "user_pages.csv", newline="") as f:
        names = [Path(row["page"]).name for row in csv.DictReader(f)]
    assert len(names) == 5
    public = [built_warehouse / "reports" / "index.html", *(built_warehouse / "exports").rglob("*.csv")]
    for path in public:
        text = path.read_text(encoding="utf-8")
        assert "user_pages" not in text and not any(name[:32] in text for name in names), path


def test_the_asset_reports_counts_not_links(built_warehouse, tmp_path):
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    result = dg.materialize([user_spending_pages], resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))})
    assert result.success
    metadata = result.asset_materializations_for_node("user_spending_pages")[0].metadata
    assert (metadata["pages"].value, metadata["rewritten"].value, metadata["removed"].value) == (5, 5, 0)
    assert metadata["folder"].value == str(tmp_path / "user_pages")
    names = [p.name[:32] for p in (tmp_path / "user_pages").glob("*.html")]
    assert not any(name in str(value.value) for value in metadata.values() for name in names)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium; .ci/run installs it)")
@pytest.mark.parametrize("user_id", ["usr_t95", "usr_new"])
def test_the_page_renders_in_headless_chromium_with_axes_from_zero(pages, user_id, tmp_path):
    _, by_user = pages
    finder = TickFinder(["chart-user"])
    finder.feed(dump_dom(by_user[user_id].as_uri(), tmp_path / "profile"))
    assert finder.ticks[("chart-user", "xtick")] == {
        "usr_t95": ["2026-11-20", "2026-11-21 (partial day)"], "usr_new": ["2026-11-20"]}[user_id]
    spend = [tick_value(t) for t in finder.ticks[("chart-user", "ytick")]]
    tokens = [tick_value(t) for t in finder.ticks[("chart-user", "y2tick")]]
    assert min(spend) == 0 and min(tokens) == 0
    if user_id == "usr_new":  # nothing spent: $0.00..$1.00, not -1..1
        assert (min(spend), max(spend)) == (0, 1)


def test_a_second_run_renders_only_the_page_of_the_user_with_a_new_request(built_warehouse, tmp_path):
    """The asset renders the pages whose users' rows changed since its last run: one new request for usr_new
    rewrites that page alone; the run after it renders nothing."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")

    def run() -> tuple[int, int, int, int]:
        result = dg.materialize([user_spending_pages],
                                resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))})
        assert result.success
        metadata = result.asset_materializations_for_node("user_spending_pages")[0].metadata
        return tuple(metadata[k].value for k in ("pages", "rendered", "rewritten", "removed"))

    assert run() == (5, 5, 5, 0)
    with open(tmp_path / "user_pages.csv", newline="") as f:
        by_user = {row["user_id"]: tmp_path / row["page"] for row in csv.DictReader(f)}
    before = {user_id: page.read_bytes() for user_id, page in by_user.items()}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        # one new request of usr_new on its day, as the marts hold it after a build
        con.execute("""
            insert into ai_usage_analytics
            select * replace ('req_new_one' as request_id) from ai_usage_analytics
            where user_id = 'usr_new' order by request_id limit 1
        """)
        con.execute("""
            update user_ai_usage_summary set requests = requests + 1, total_tokens = total_tokens + 1000
            where user_id = 'usr_new'
        """)
    assert run() == (5, 1, 1, 0)
    after = {user_id: page.read_bytes() for user_id, page in by_user.items()}
    assert [user_id for user_id in USERS if after[user_id] != before[user_id]] == ["usr_new"]
    assert "new@example.com (free): 2 requests,\n2,500 tokens, up to 2026-11-20" in before["usr_new"].decode()
    assert "new@example.com (free): 3 requests,\n4,000 tokens, up to 2026-11-20" in after["usr_new"].decode()
    assert run() == (5, 0, 0, 0)


def test_the_pages_sql_spells_money_and_counts_as_the_python_helpers_do():
    """The day rows are built in DuckDB: their money (to the cent, half to even like Python's Decimal; every digit
    on hover), counts and chart floats are spelled exactly as dashboard.usd / usd_exact, `{:,}` and json.dumps
    spell them, ties and signs included."""
    from decimal import Decimal

    from dagster_project.publish.dashboard import usd, usd_exact
    from dagster_project.publish.user_pages import usd_exact_sql, usd_sql

    cases = {  # value: (usd, usd_exact, the chart's float)
        "0": ("$0.00", "0", "0.0"),
        "0.125": ("$0.12", "0.125", "0.125"),
        "0.135": ("$0.14", "0.135", "0.135"),
        "2.675": ("$2.68", "2.675", "2.675"),
        "0.004999999999": ("$0.00", "0.004999999999", "0.004999999999"),
        "-0.005": ("-$0.00", "-0.005", "-0.005"),
        "-1234567.995": ("-$1,234,568.00", "-1234567.995", "-1234567.995"),
        "1000": ("$1,000.00", "1000", "1000.0"),
        "0.000000000001": ("$0.00", "0.000000000001", "1e-12"),
        "0.086931818182": ("$0.09", "0.086931818182", "0.086931818182"),
    }
    with duckdb.connect() as con:
        con.execute("create table t (i integer, v decimal(38, 12), n bigint)")
        con.executemany("insert into t values (?, ?, ?)", [[i, Decimal(v), 1234567] for i, v in enumerate(cases)])
        rows = con.execute(f"select {usd_sql('v')}, {usd_exact_sql('v')}, "
                           "cast(cast(cast(v as varchar) as double) as varchar), format('{:,}', n) from t "
                           "order by i").fetchall()
    assert rows == [(*expected, "1,234,567") for expected in cases.values()]
    for text, (money, exact, chart) in cases.items():
        value = Decimal(text)
        assert (money, exact, chart) == (usd(value), usd_exact(value), json.dumps(float(value))), text


def test_pages_rendered_a_few_users_at_a_time_are_the_same_pages(pages, tmp_path, monkeypatch):
    """Pages are read and rendered RENDER_BATCH_USERS users at a time (bounded memory at any number of users): in
    batches of two users, every page is byte for byte the page rendered in one batch."""
    from dagster_project.publish import user_pages

    folder, by_user = pages
    shutil.copy(folder / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    shutil.copy(folder / "user_pages.key", tmp_path / "user_pages.key")
    monkeypatch.setattr(user_pages, "RENDER_BATCH_USERS", 2)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        written = write_user_pages(con, tmp_path)
    assert (written.pages, written.rendered) == (5, 5)
    for page in by_user.values():
        assert (tmp_path / "user_pages" / page.name).read_bytes() == page.read_bytes()


def _hostile_marts(path: Path) -> None:
    """Tables named as the marts the pages read (user_spending, user_spending_daily, user_alerts), with what the SQL
    spelling must get right or leave to Python: HTML in names and plans, empty and missing emails and plans, ties
    at the half cent, negative and huge amounts, quotas of 0 and none, percentages on a tie, NULL figures, partial
    days, users without days or alerts, alerts of every metric."""
    import random
    from datetime import UTC, date, datetime, timedelta
    from decimal import Decimal

    rng = random.Random(10)
    amounts = ["0", "0.005", "0.015", "0.125", "2.675", "-0.005", "-1234567.995", "1000", "0.000000000001",
               "0.086931818182", "999999999999.995", "1234567890123.125", "12345678901234.5"]
    names = ['a&b@example.com', '<script>"x"</script>', "o'brien@example.com", "", None, "zoë@example.com"]
    plans = ["free", "pro<&>", "", None]
    users, days, alerts = [], [], []
    for n in range(60):
        user_id = f"usr_{n:03d}" if n != 7 else "usr_'&<>\""
        spent = Decimal(rng.choice(amounts))
        month_spent = Decimal(rng.choice(amounts + ["1", "3"])) if n != 11 else None
        token_quota = rng.choice([None, 0, 1000, 3, 2000, 7])
        spend_quota = rng.choice([None, Decimal(0), Decimal("3"), Decimal("0.002"), Decimal("20000000000000")])
        month_tokens = rng.choice([0, 1, 5, 15, 1234567, 999]) if n != 12 else -5
        if n == 16:  # past DuckDB's DECIMAL(38) cents (10^24 USD): Python's
            spent = month_spent = spend_quota = Decimal("5000000000000000000000000.25")
        users.append((user_id, rng.choice(names), rng.choice(plans), rng.randint(0, 10**7), rng.randint(0, 10**12),
                      spent, 100000, rng.randint(-5, 100000), "2026-11" if n != 13 else None, month_tokens,
                      month_spent, token_quota, spend_quota))
        for day in range(rng.choice([0, 1, 3, 30])):
            null_day = n == 14 and day == 1
            days.append((user_id, date(2026, 10, 1) + timedelta(days=day), day == 29 or (n % 5 == 0 and day == 2),
                         None if null_day else rng.randint(0, 5000), rng.randint(0, 10**9), rng.randint(0, 10**6),
                         Decimal(rng.choice(amounts))))
        for k in range(rng.choice([0, 0, 1, 3])):
            metric = rng.choice(["tokens", "spend", "trial"])
            alerts.append((user_id, f"{metric}_{k}", metric, None if metric == "trial" else rng.choice([80, 100]),
                           "2026-11", 1000, Decimal("3") if n != 15 else None, rng.randint(0, 10**6),
                           Decimal(rng.choice(amounts)),
                           datetime(2026, 11, 1 + k, rng.randint(0, 23), rng.randint(0, 59), tzinfo=UTC)))
    alerts.append(("usr_017", "spend_100pct", "spend", 100, "2026-11", None, Decimal("3"), 5,
                   Decimal("5000000000000000000000000"), datetime(2026, 11, 30, 23, 59, tzinfo=UTC)))
    with duckdb.connect(str(path)) as con:
        con.execute("""create table user_spending (user_id varchar, email varchar, plan varchar, requests bigint,
            total_tokens bigint, spent_usd decimal(38, 12), trial_allowance_tokens bigint, trial_tokens_left bigint,
            quota_month varchar, month_tokens bigint, month_spent_usd decimal(38, 12), monthly_token_quota bigint,
            monthly_spend_quota_usd decimal(38, 12))""")
        con.execute("""create table user_spending_daily (user_id varchar, date date, is_partial_day boolean,
            requests bigint, total_tokens bigint, trial_tokens bigint, spent_usd decimal(38, 12))""")
        con.execute("""create table user_alerts (user_id varchar, alert_type varchar, metric varchar,
            threshold_percent integer, period_month varchar, quota_tokens bigint, quota_spend_usd decimal(38, 12),
            used_tokens bigint, used_spend_usd decimal(38, 12), crossed_at timestamptz)""")
        con.executemany("insert into user_spending values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", users)
        con.executemany("insert into user_spending_daily values (?, ?, ?, ?, ?, ?, ?)", days)
        con.executemany("insert into user_alerts values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", alerts)


@pytest.mark.parametrize("batch", [20_000, 7])
def test_the_pages_are_byte_for_byte_the_pages_rendered_in_python_before(pages, tmp_path, monkeypatch, batch):
    """The pages are built in one DuckDB query (the day parts and the header; Python writes the files): every page,
    the index of links and the plotly copy are byte for byte what the Python rendering of commit 5872a34
    (tests/assets/user_pages_reference.py) wrote, on the fixture's marts and on hostile ones; the pages the SQL
    leaves to Python (NULL figures, amounts past its exact range) included."""
    from dagster_project.publish import user_pages
    from tests.assets import user_pages_reference

    monkeypatch.setattr(user_pages, "RENDER_BATCH_USERS", batch)
    folder, _ = pages
    hostile = tmp_path / "hostile.duckdb"
    _hostile_marts(hostile)
    for warehouse in (folder / "warehouse.duckdb", hostile):
        before, after = tmp_path / warehouse.stem / "before", tmp_path / warehouse.stem / "after"
        for data in (before, after):
            data.mkdir(parents=True)
            shutil.copy(folder / "user_pages.key", data / "user_pages.key")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            reference = user_pages_reference.write_user_pages(con, before)
            written = user_pages.write_user_pages(con, after)
        assert (written.pages, written.rendered, written.removed) == (reference.pages, reference.rendered, 0)
        files = sorted(p.name for p in (before / "user_pages").iterdir())
        assert sorted(p.name for p in (after / "user_pages").iterdir()) == files
        assert len(files) == reference.pages + 1
        for name in files:
            assert (after / "user_pages" / name).read_bytes() == (before / "user_pages" / name).read_bytes(), name
        assert (after / "user_pages.csv").read_bytes() == (before / "user_pages.csv").read_bytes()
    with duckdb.connect(str(hostile), read_only=True) as con:  # both ways of rendering were compared
        user_pages._read_marts(con)
        in_sql = [page is not None for _, page in con.execute(user_pages._page_sql("")).fetchall()]
    assert (len(in_sql), in_sql.count(False)) == (60, 27)


def test_a_batch_whose_range_misses_users_is_rendered_by_their_ids(tmp_path, monkeypatch):
    """A batch is read by its range of ids first (`between` its least and greatest id by Python's order), then by
    the ids alone when the range left users out: here a connection whose strings compare without case, where
    `usr_000` is outside the range `USR_001`..`usr_006`. Every page is still the page rendered in one batch."""
    from dagster_project.publish import user_pages

    marts = tmp_path / "marts.duckdb"
    _hostile_marts(marts)
    with duckdb.connect(str(marts)) as con:
        for table in ("user_spending", "user_spending_daily", "user_alerts"):
            con.execute(f"update {table} set user_id = upper(user_id) where user_id in ('usr_001', 'usr_003')")
    one, batched = tmp_path / "one", tmp_path / "batched"
    for data in (one, batched):
        data.mkdir()
        (data / "user_pages.key").write_text("6b" * 32)
    with duckdb.connect(str(marts), read_only=True) as con:
        expected = user_pages.write_user_pages(con, one)
    filters = []
    page_sql = user_pages._page_sql
    monkeypatch.setattr(user_pages, "_page_sql", lambda only: filters.append(only) or page_sql(only))
    monkeypatch.setattr(user_pages, "RENDER_BATCH_USERS", 7)
    with duckdb.connect(str(marts), read_only=True) as con:
        con.execute("set default_collation = 'nocase'")
        written = user_pages.write_user_pages(con, batched)
    assert (written.pages, written.rendered) == (expected.pages, expected.rendered) == (60, 60)
    by_ids = "where user_id in (select unnest($users))"
    assert filters.count(by_ids) == 1, filters  # the first batch only: its range misses usr_000
    assert len([f for f in filters if "between" in f]) == 9  # 60 users: 9 batches of at most 7, each by range
    files = sorted(p.name for p in (one / "user_pages").iterdir())
    assert sorted(p.name for p in (batched / "user_pages").iterdir()) == files
    for name in files:
        assert (batched / "user_pages" / name).read_bytes() == (one / "user_pages" / name).read_bytes(), name
