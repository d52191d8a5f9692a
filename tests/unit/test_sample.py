"""Tests for the deterministic sample data generator and the model catalog seed."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from ingest.catalog import HEADER as CATALOG_HEADER
from ingest.sample import (
    ALIASES_CSV,
    ASSISTANT_MODEL,
    CATALOG_CSV,
    DEFAULT_MODEL,
    REASONING_MODELS,
    ROSTER,
    ensure_sample_data,
    write_sample_data,
)
from tests.conftest import materialize_all

REPO_ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 11, 24, tzinfo=UTC)
# the platform's provider ids (xai: its billed names) and genai-prices' (x-ai)
PROVIDERS = {"azure", "openai", "anthropic", "xai", "x-ai", "google", "meta", "mistral", "cohere", "deepseek", "groq"}
HEADER = ",".join(CATALOG_HEADER)
REQUIRED = {"id": str, "created_at": str, "user_id": str, "model": str,
            "native_tokens_prompt": int, "native_tokens_completion": int}
OPTIONAL_INT = ("native_tokens_cached", "native_tokens_cache_creation", "native_tokens_cache_creation_1h",
                "native_tokens_reasoning")
# genai-prices' provider ids of the ten providers the sample's roster covers
ROSTER_PROVIDERS = {"openai", "anthropic", "google", "x-ai", "meta", "mistral", "cohere", "deepseek", "groq", "azure"}


@pytest.fixture(scope="module")
def catalog() -> list[dict]:
    """Each model's standard price in effect on END (the seed is dated and priced in cells: make catalog)."""
    day, rows, seen = END.date().isoformat(), [], set()
    with open(CATALOG_CSV, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (row["valid_from"] <= day and (not row["valid_to"] or row["valid_to"] > day)
                    and row["service_tier"] == "any" and not row["input_tokens_above"] and row["model"] not in seen):
                seen.add(row["model"])
                rows.append(row)
    return rows


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("sample")
    return d, write_sample_data(d, end=END)


@pytest.fixture(scope="module")
def all_rows() -> dict[str, list[dict]]:
    """Every catalog row (every cell of every range), by model."""
    rows: dict[str, list[dict]] = {}
    with open(CATALOG_CSV, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["model"], []).append(row)
    return rows


@pytest.fixture(scope="module")
def aliases() -> dict[str, dict]:
    with open(ALIASES_CSV, newline="", encoding="utf-8") as f:
        return {row["alias"]: row for row in csv.DictReader(f)}


def price_row(all_rows: dict, aliases: dict, rec: dict) -> dict:
    """The catalog row that prices a logged request, by pricing-rules.md ("The catalog is dated, and priced in
    cells"), written here independently of ingest/sample.py: exactly one row must win."""
    at = parse_ts(rec["created_at"])
    day = at.date().isoformat()
    model = rec["model"]
    alias = aliases.get(model)
    if alias and (not alias["valid_from"] or day >= alias["valid_from"]):
        model = alias["model"]
    tier, prompt = rec.get("service_tier", "default"), rec["native_tokens_prompt"]

    def in_window(r: dict) -> bool:
        if not r["window_start"]:
            return True
        local = at.astimezone(ZoneInfo(r["window_timezone"])).strftime("%H:%M:%S")
        if r["window_start"] <= r["window_end"]:
            return r["window_start"] <= local < r["window_end"]
        return local >= r["window_start"] or local < r["window_end"]

    candidates = [r for r in all_rows.get(model, [])
                  if r["valid_from"] <= day and (not r["valid_to"] or day < r["valid_to"])
                  and r["service_tier"] in (tier, "any") and in_window(r)
                  and (not r["input_tokens_above"] or prompt > int(r["input_tokens_above"]))]
    assert candidates, f"no catalog price for {rec['model']} at {rec['created_at']} (would be held back)"

    def rank(r: dict) -> tuple:
        return (r["service_tier"] == tier, int(r["input_tokens_above"] or -1))

    best = max(candidates, key=rank)
    assert sum(rank(r) == rank(best) for r in candidates) == 1, rec
    return best


def expected_cost(row: dict, rec: dict) -> Decimal:
    """Step 3 of pricing-rules.md with the row's prices (each missing price falls back as the rules say)."""
    def price(*columns: str) -> Decimal:
        return next(Decimal(row[c]) for c in columns if row[c])

    prompt, completion = rec["native_tokens_prompt"], rec["native_tokens_completion"]
    cached, creation = rec.get("native_tokens_cached", 0), rec.get("native_tokens_cache_creation", 0)
    creation_1h, reasoning = rec.get("native_tokens_cache_creation_1h", 0), rec.get("native_tokens_reasoning", 0)
    return ((prompt - cached - creation) * price("input_price_per_1m_usd")
            + cached * price("cache_read_price_per_1m_usd", "input_price_per_1m_usd")
            + (creation - creation_1h) * price("cache_write_price_per_1m_usd", "input_price_per_1m_usd")
            + creation_1h * price("cache_write_1h_price_per_1m_usd", "cache_write_price_per_1m_usd",
                                  "input_price_per_1m_usd")
            + (completion - reasoning) * price("output_price_per_1m_usd")
            + reasoning * price("reasoning_price_per_1m_usd", "output_price_per_1m_usd")) / Decimal(1_000_000)


def read_records(data_dir: Path) -> list[dict]:
    out = []
    for p in sorted((data_dir / "raw" / "gateway").glob("*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as f:
            out.extend(json.loads(line) for line in f)
    return out


def parse_ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


# --- the catalog seed -------------------------------------------------------------------------

def test_catalog_header_rows_providers(catalog):
    with open(CATALOG_CSV, newline="", encoding="utf-8") as f:
        first_day = {}
        for row in csv.DictReader(f):
            first_day[row["model"]] = min(first_day.get(row["model"], "9999"), row["valid_from"])
    assert CATALOG_CSV.read_text(encoding="utf-8").splitlines()[0] == HEADER
    assert len(catalog) >= 32
    assert {r["provider"] for r in catalog} == PROVIDERS
    ids = [r["model"] for r in catalog]
    assert len(ids) == len(set(ids))
    for r in catalog:
        provider, _, name = r["model"].partition("/")
        assert provider == r["provider"] and name and r["model"] == r["model"].lower()
        assert " " not in r["model"] and "_" not in r["model"]
        assert r["tier"] in {"most_users", "power_users", "speed"}
        # priced on every day of the sample (a dated price change inside it closes one row and opens the next)
        assert first_day[r["model"]] <= (END - timedelta(days=30)).date().isoformat()
        assert r["display_name"] and r["price_source"] and (r["source_model"] or r["note"])


def test_catalog_required_models(catalog):
    required = """openai/gpt-4o openai/gpt-4o-mini openai/gpt-4-turbo openai/o1 openai/o3-mini
    anthropic/claude-3.5-sonnet anthropic/claude-3.5-haiku anthropic/claude-3-opus xai/grok-beta xai/grok-2
    google/gemini-2.0-flash google/gemini-1.5-pro google/gemini-1.5-flash meta/llama-3.3-70b
    meta/llama-3.1-405b meta/llama-3.1-70b meta/llama-3.2-90b-vision mistral/mistral-large
    mistral/mistral-medium mistral/mistral-small cohere/command-r-plus cohere/command-r deepseek/deepseek-v3
    deepseek/deepseek-coder groq/llama-3.3-70b-versatile groq/llama-3.1-8b-instant groq/mixtral-8x7b
    azure/crowe-logic-assistant azure/gpt-4o azure/gpt-4o-mini""".split()
    assert set(required) <= {r["model"] for r in catalog}
    assert all(r["tier"] == "speed" for r in catalog if r["provider"] == "groq")


def test_catalog_guide_prices_exact(catalog):
    by_id = {r["model"]: r for r in catalog}
    assert Decimal(by_id["openai/gpt-4o-mini"]["input_price_per_1m_usd"]) == Decimal("0.15")
    assert Decimal(by_id["openai/gpt-4o-mini"]["output_price_per_1m_usd"]) == Decimal("0.60")
    assert Decimal(by_id["anthropic/claude-3.5-sonnet"]["input_price_per_1m_usd"]) == Decimal("3.00")
    assert Decimal(by_id["anthropic/claude-3.5-sonnet"]["output_price_per_1m_usd"]) == Decimal("15.00")
    assert Decimal(by_id["azure/crowe-logic-assistant"]["input_price_per_1m_usd"]) == Decimal("2.50")
    assert Decimal(by_id["azure/crowe-logic-assistant"]["output_price_per_1m_usd"]) == Decimal("10.00")


def test_catalog_prices_valid(catalog):
    price_cols = ["input_price_per_1m_usd", "output_price_per_1m_usd", "cache_read_price_per_1m_usd",
                  "cache_write_price_per_1m_usd", "reasoning_price_per_1m_usd"]
    for r in catalog:
        for c in price_cols:
            if r[c] == "":
                assert c not in ("input_price_per_1m_usd", "output_price_per_1m_usd"), r["model"]
                continue
            v = Decimal(r[c])
            assert v >= 0 and -v.as_tuple().exponent <= 6, (r["model"], c)
        if r["cache_read_price_per_1m_usd"]:
            assert Decimal(r["cache_read_price_per_1m_usd"]) <= Decimal(r["input_price_per_1m_usd"]), r["model"]


# --- the generated data -----------------------------------------------------------------------

def test_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    sa = write_sample_data(a, end=END, days=5, users=40)
    sb = write_sample_data(b, end=END, days=5, users=40)
    assert sa["requests"] == sb["requests"] > 0
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == sa["files"] + 1
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    c = tmp_path / "c"
    write_sample_data(c, end=END, days=5, users=40, seed=1)
    assert (c / "raw" / "users.csv").read_bytes() != (a / "raw" / "users.csv").read_bytes()


def test_file_layout_and_summary(sample):
    d, s = sample
    names = sorted(p.name for p in (d / "raw" / "gateway").iterdir())
    assert names == [f"sample-{(END - timedelta(days=i)).date()}.jsonl.gz" for i in range(30, 0, -1)]
    assert s["files"] == 30 and s["users"] == 300
    assert 50_000 <= s["requests"] <= 70_000  # enough paid usage past the trials to show the business
    recs = read_records(d)
    assert len(recs) == s["requests"] == len({r["id"] for r in recs})
    assert s["first_timestamp"] == min(r["created_at"] for r in recs)
    assert s["last_timestamp"] == max(r["created_at"] for r in recs)
    for p in (d / "raw" / "gateway").iterdir():  # each file holds exactly its own UTC day
        day = p.name[len("sample-"):-len(".jsonl.gz")]
        with gzip.open(p, "rt", encoding="utf-8") as f:
            assert all(json.loads(line)["created_at"].startswith(day) for line in f)


def test_records_follow_contract(sample, all_rows, aliases):
    d, _ = sample
    start = END - timedelta(days=30)
    for r in read_records(d):
        for k, t in REQUIRED.items():
            assert type(r[k]) is t, (k, r)
        assert 1 <= len(r["id"]) <= 128 and r["id"].startswith("gen_") and len(r["id"]) == 24
        assert len(r["created_at"]) == 24 and r["created_at"].endswith("Z")
        assert start <= parse_ts(r["created_at"]) <= END
        assert type(r["status_code"]) is int and r["status_code"] in (200, 400, 429, 500, 502)
        prompt, completion = r["native_tokens_prompt"], r["native_tokens_completion"]
        assert prompt >= 0 and completion >= 0
        for k in OPTIONAL_INT:
            assert type(r.get(k, 0)) is int and r.get(k, 0) >= 0
        cached = r.get("native_tokens_cached", 0)
        assert cached <= prompt
        assert r.get("native_tokens_cache_creation", 0) <= prompt - cached
        assert r.get("native_tokens_cache_creation_1h", 0) <= r.get("native_tokens_cache_creation", 0)
        assert r.get("native_tokens_reasoning", 0) <= completion
        assert r.get("service_tier", "flex") in ("flex", "priority", "batch")  # absent means `default`
        # every request, failed or not, finds exactly one catalog price on its day: nothing is held back
        row = price_row(all_rows, aliases, r)
        if r["status_code"] != 200:
            assert completion == 0 and cached == 0 and r["total_cost"] == 0
        else:
            # The gateway bills like the providers: the row of the request's day, window, service tier and
            # long-context tier, each token type at its own price, reported rounded to 8 decimals.
            assert Decimal(str(r["total_cost"])) == round(expected_cost(row, r), 8), r
        assert isinstance(r["streamed"], bool) and isinstance(r["latency"], int)


def test_roster_is_todays_models(catalog, all_rows, aliases):
    """The guide's tiers map to current text models: each roster model is in the catalog with its group's tier,
    priced by genai-prices with no end of validity and not deprecated (the platform's own assistant aside, priced
    by its override and then as Azure GPT-4o); the ten providers are all there."""
    today = {r["model"]: r for r in catalog}
    shares = [share for group in ROSTER.values() for _, share in group]
    assert sum(shares) == pytest.approx(1.0)
    assert {m.partition("/")[0] for group in ROSTER.values() for m, _ in group} == ROSTER_PROVIDERS
    assert dict(ROSTER["most_users"])[DEFAULT_MODEL] == 0.30
    for group, entries in ROSTER.items():
        for model, _ in entries:
            if model == ASSISTANT_MODEL:
                assert aliases[model]["model"] == "azure/gpt-4o" and today[model]["price_source"] == "override"
                continue
            assert group == ("azure" if model.startswith("azure/") else today[model]["tier"]), model
            open_ended = [r for r in all_rows[model] if not r["valid_to"]]
            assert open_ended and all(r["price_source"].startswith("genai-prices ") for r in open_ended), model
            assert "deprecated" not in " ".join(r["note"] for r in all_rows[model]), model
    assert REASONING_MODELS <= {m for group in ROSTER.values() for m, _ in group}


def test_data_mix(sample, all_rows, aliases):
    d, s = sample
    recs = read_records(d)
    n = len(recs)
    default = sum(r["model"] == DEFAULT_MODEL for r in recs) / n
    assert 0.25 < default < 0.35
    azure = sum(r["model"].startswith("azure/") for r in recs) / n
    assert 0.03 < azure < 0.08
    assert any(r["model"] == ASSISTANT_MODEL for r in recs)
    assert {r["model"].partition("/")[0] for r in recs} == ROSTER_PROVIDERS
    assert {r["model"] for r in recs} == {m for group in ROSTER.values() for m, _ in group}
    failed = sum(r["status_code"] != 200 for r in recs) / n
    assert 0.008 < failed < 0.025
    assert any(r.get("native_tokens_cached", 0) > 0 for r in recs)
    assert any(r.get("native_tokens_cache_creation", 0) > 0 for r in recs)
    reasoning = [r for r in recs if r.get("native_tokens_reasoning", 0) > 0]
    assert {r["model"] for r in reasoning} == REASONING_MODELS
    for r in recs:  # cache reads and writes only where the model's price row has a price for them
        row = price_row(all_rows, aliases, r)
        if r.get("native_tokens_cached", 0):
            assert row["cache_read_price_per_1m_usd"], r
        if r.get("native_tokens_cache_creation", 0):
            assert row["cache_write_price_per_1m_usd"], r
        if r.get("native_tokens_cache_creation_1h", 0):
            assert row["cache_write_1h_price_per_1m_usd"], r


def test_every_pricing_dimension_is_sampled(sample, all_rows, aliases):
    """Long prompts past a long-context tier, requests in DeepSeek's off-peak and peak windows, each of flex /
    priority / batch (only on models with a price for it that day), 1-hour cache writes and azure/*."""
    d, _ = sample
    recs = [r for r in read_records(d) if r["status_code"] == 200]
    priced = [(r, price_row(all_rows, aliases, r)) for r in recs]

    long_context = Counter(r["model"] for r, row in priced if row["input_tokens_above"])
    assert set(long_context) >= {DEFAULT_MODEL, "anthropic/claude-haiku-5-5", "google/gemini-3.1-pro-preview",
                                 "x-ai/grok-4.7"}
    for r, row in priced:
        if row["input_tokens_above"]:
            assert r["native_tokens_prompt"] > int(row["input_tokens_above"])
    assert sum(long_context.values()) < 0.01 * len(recs)  # documents, not the usual chat turn

    # DeepSeek V4.1 Flash: peak 01:00-04:00 and 06:00-10:00 UTC at 0.30 / 1.20, off-peak at half price
    windows = Counter((row["window_start"], row["window_end"], row["input_price_per_1m_usd"])
                      for r, row in priced if r["model"] == "deepseek/deepseek-flash")
    assert set(windows) == {("01:00:00", "04:00:00", "0.3"), ("04:00:00", "06:00:00", "0.15"),
                            ("06:00:00", "10:00:00", "0.3"), ("10:00:00", "01:00:00", "0.15")}
    assert all(row["window_start"] for r, row in priced if r["model"].startswith("deepseek/"))

    tiers = Counter(r.get("service_tier") for r in recs)
    assert min(tiers["flex"], tiers["priority"], tiers["batch"]) > 100
    for r, row in priced:
        if "service_tier" in r:  # only sent where the model has its own price for the tier
            assert row["service_tier"] == r["service_tier"], r
    assert not any(r["streamed"] for r in recs if r.get("service_tier") == "batch")

    one_hour = [r for r in recs if r.get("native_tokens_cache_creation_1h", 0)]
    assert one_hour and {r["model"].partition("/")[0] for r in one_hour} == {"anthropic"}
    assert sum(r["model"].startswith("azure/") for r in recs) > 1000


def test_users_csv(sample):
    d, _ = sample
    with open(d / "raw" / "users.csv", newline="", encoding="utf-8") as f:
        assert f.readline() == "id,email,created_at,plan\n"
    with open(d / "raw" / "users.csv", newline="", encoding="utf-8") as f:
        users = {u["id"]: u for u in csv.DictReader(f)}
    assert len(users) == 300
    assert users["usr_0001"]["email"] == "user0001@example.com"
    assert {u["plan"] for u in users.values()} == {"free", "pro", "team"}
    earliest = END - timedelta(days=150)
    for u in users.values():
        assert earliest <= parse_ts(u["created_at"]) <= END
    for r in read_records(d):
        assert r["user_id"] in users
        assert parse_ts(r["created_at"]) >= parse_ts(users[r["user_id"]]["created_at"])


def test_no_timestamp_after_end_mid_day(tmp_path):
    end = datetime(2026, 11, 24, 9, 30, 15, 500_000, tzinfo=UTC)
    s = write_sample_data(tmp_path, end=end, days=2, users=50)
    recs = read_records(tmp_path)
    assert len(recs) == s["requests"] > 0
    assert all(end - timedelta(days=2) <= parse_ts(r["created_at"]) <= end for r in recs)


# --- the sample through the warehouse -----------------------------------------------------------------

BUILD_DAYS = 3


@pytest.mark.slow
def test_sample_builds_with_every_dimension_in_the_marts(sample, tmp_path):
    """The last days of the default sample, materialized end to end as `make run` does: nothing held back, the
    gateway's cost equals ours for every request (to its 8 decimals; the asset check passes), and the request mart
    names every pricing dimension."""
    d, _ = sample
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    days = [(END - timedelta(days=i)).date() for i in range(BUILD_DAYS, 0, -1)]
    for day in days:
        name = f"sample-{day}.jsonl.gz"
        (gateway / name).write_bytes((d / "raw" / "gateway" / name).read_bytes())
    (tmp_path / "raw" / "users.csv").write_bytes((d / "raw" / "users.csv").read_bytes())
    records = {r["id"]: r for day in days for r in read_records_of(gateway / f"sample-{day}.jsonl.gz")}

    result = materialize_all(tmp_path, days=(days[0], days[-1]))  # as `make run` does, in one run
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["gateway_cost_matches_provider_cost"].passed

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from unpriced_requests").fetchone() == (0,)
        assert con.execute("select count(*) from raw.quarantine").fetchone() == (0,)
        rows = con.execute(
            """
            select request_id, provider_cost_usd, service_tier, price_service_tier, price_window_start,
                   price_input_tokens_above, cache_creation_1h_tokens, model, catalog_model
            from ai_usage_analytics
            """
        ).fetchall()
        dimensions = con.execute("select dimension, value, requests from pricing_dimension_usage").fetchall()
        report = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert len(rows) == len(records)
    # the report's "How requests were priced" shows every dimension the sample exercises
    values = {(dimension, value) for dimension, value, _ in dimensions}
    assert {("service_tier", tier) for tier in ("default", "flex", "priority", "batch")} <= values
    assert any(d == "time_window" and v != "all day" for d, v in values)
    assert any(d == "long_context_tier" and v.startswith("input above ") for d, v in values)
    assert ("cache_write_lifetime", "writes with a 1-hour lifetime") in values
    section = report.split('<section id="pricing">')[1].split("</section>")[0]
    for dimension, value, requests in dimensions:
        assert f"<td class=\"\">{value}</td><td class=\"num\">{requests:,}</td>" in section, (dimension, value)
    for request_id, cost, *_ in rows:
        gateway_cost = Decimal(str(records[request_id]["total_cost"]))
        assert abs(gateway_cost - cost) <= Decimal("0.000000005"), (request_id, gateway_cost, cost)
    assert {r[3] for r in rows} == {"any", "flex", "priority", "batch"}
    assert {r[2] for r in rows} == {"default", "flex", "priority", "batch"}
    assert any(r[4] is not None for r in rows)  # DeepSeek's windows
    assert any(r[5] is not None for r in rows)  # long-context tiers
    assert sum(r[6] for r in rows) > 0  # 1-hour cache writes
    assert any(r[7] == ASSISTANT_MODEL for r in rows) and any(r[8].startswith("azure/") for r in rows)


def read_records_of(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# --- --if-empty ---------------------------------------------------------------------------------

def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop("AI_USAGE_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "ingest.sample", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True)


def test_if_empty_keeps_existing_logs(tmp_path):
    gw = tmp_path / "raw" / "gateway"
    gw.mkdir(parents=True)
    existing = gw / "mine.jsonl"
    existing.write_text('{"id":"x"}\n')
    users = tmp_path / "raw" / "users.csv"
    users.write_text("id,email,created_at,plan\n")
    out = run_cli("--data-dir", str(tmp_path), "--if-empty", cwd=tmp_path).stdout.strip().splitlines()
    assert out == [f"found 1 gateway log files in {gw}: using them as they are"]
    assert sorted(p.name for p in gw.iterdir()) == ["mine.jsonl"]
    assert existing.read_text() == '{"id":"x"}\n'
    assert users.read_text() == "id,email,created_at,plan\n"


def test_if_empty_writes_when_empty(tmp_path):
    (tmp_path / "data" / "raw" / "gateway").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "gateway" / ".gitkeep").write_text("")
    out = run_cli("--if-empty", "--days", "3", "--users", "30", cwd=tmp_path).stdout.strip().splitlines()
    assert out[-1].startswith("wrote sample data: ") and out[-1].endswith(" users over 3 days to data")
    assert len(list((tmp_path / "data" / "raw" / "gateway").glob("sample-*.jsonl.gz"))) >= 3
    assert (tmp_path / "data" / "raw" / "users.csv").read_text().count("\n") == 31
    # a second run finds the files and leaves them alone
    before = {p.name: p.read_bytes() for p in (tmp_path / "data" / "raw" / "gateway").iterdir()}
    out2 = run_cli("--if-empty", cwd=tmp_path).stdout.strip()
    assert out2.endswith("using them as they are")
    assert {p.name: p.read_bytes() for p in (tmp_path / "data" / "raw" / "gateway").iterdir()} == before


def test_if_empty_keeps_existing_users_csv(tmp_path):
    users = tmp_path / "raw" / "users.csv"
    users.parent.mkdir(parents=True)
    users.write_text("id,email,created_at,plan\nusr_0001,a@b.c,2026-01-01T00:00:00Z,pro\n")
    msg = ensure_sample_data(tmp_path, end=END, days=2, users=10)
    assert msg.startswith("wrote sample data: ") and "kept the existing users.csv" in msg
    assert users.read_text() == "id,email,created_at,plan\nusr_0001,a@b.c,2026-01-01T00:00:00Z,pro\n"
