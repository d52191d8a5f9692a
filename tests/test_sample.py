"""Tests for the deterministic sample data generator and the model catalog seed."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.catalog import HEADER as CATALOG_HEADER
from ingest.sample import CATALOG_CSV, ensure_sample_data, write_sample_data

REPO_ROOT = Path(__file__).resolve().parents[1]
END = datetime(2026, 11, 24, tzinfo=UTC)
# the platform's provider ids (xai: its billed names) and genai-prices' (x-ai)
PROVIDERS = {"azure", "openai", "anthropic", "xai", "x-ai", "google", "meta", "mistral", "cohere", "deepseek", "groq"}
HEADER = ",".join(CATALOG_HEADER)
REQUIRED = {"id": str, "created_at": str, "user_id": str, "model": str,
            "native_tokens_prompt": int, "native_tokens_completion": int}
OPTIONAL_INT = ("native_tokens_cached", "native_tokens_cache_creation", "native_tokens_reasoning")


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


def test_records_follow_contract(sample, catalog):
    d, _ = sample
    prices = {r["model"]: r for r in catalog}
    start = END - timedelta(days=30)
    for r in read_records(d):
        for k, t in REQUIRED.items():
            assert type(r[k]) is t, (k, r)
        assert 1 <= len(r["id"]) <= 128 and r["id"].startswith("gen_") and len(r["id"]) == 24
        assert len(r["created_at"]) == 24 and r["created_at"].endswith("Z")
        assert start <= parse_ts(r["created_at"]) <= END
        assert r["model"] in prices
        assert type(r["status_code"]) is int and r["status_code"] in (200, 400, 429, 500, 502)
        prompt, completion = r["native_tokens_prompt"], r["native_tokens_completion"]
        assert prompt >= 0 and completion >= 0
        for k in OPTIONAL_INT:
            assert type(r.get(k, 0)) is int and r.get(k, 0) >= 0
        cached = r.get("native_tokens_cached", 0)
        assert cached <= prompt
        assert r.get("native_tokens_cache_creation", 0) <= prompt - cached
        assert r.get("native_tokens_reasoning", 0) <= completion
        if r["status_code"] != 200:
            assert completion == 0 and cached == 0
        else:
            # The gateway bills like the providers: cached input at the cache-read price, cache writes at the
            # cache-write price, reasoning at the reasoning price (each the input/output price where missing).
            p = {k: float(v) if v else None for k, v in prices[r["model"]].items() if k.endswith("_usd")}
            creation = r.get("native_tokens_cache_creation", 0)
            reasoning = r.get("native_tokens_reasoning", 0)
            expected = ((prompt - cached - creation) * p["input_price_per_1m_usd"]
                        + cached * (p["cache_read_price_per_1m_usd"] or p["input_price_per_1m_usd"])
                        + creation * (p["cache_write_price_per_1m_usd"] or p["input_price_per_1m_usd"])
                        + (completion - reasoning) * p["output_price_per_1m_usd"]
                        + reasoning * (p["reasoning_price_per_1m_usd"] or p["output_price_per_1m_usd"])) / 1e6
            assert r["total_cost"] == round(expected, 8)
        assert isinstance(r["streamed"], bool) and isinstance(r["latency"], int)


def test_data_mix(sample, catalog):
    d, s = sample
    recs = read_records(d)
    n = len(recs)
    mini = sum(r["model"] == "openai/gpt-4o-mini" for r in recs) / n
    assert 0.25 < mini < 0.35
    azure = sum(r["model"].startswith("azure/") for r in recs) / n
    assert 0.03 < azure < 0.08
    assert any(r["model"] == "azure/crowe-logic-assistant" for r in recs)
    failed = sum(r["status_code"] != 200 for r in recs) / n
    assert 0.008 < failed < 0.025
    assert any(r.get("native_tokens_cached", 0) > 0 for r in recs)
    assert any(r.get("native_tokens_cache_creation", 0) > 0 for r in recs)
    reasoning = [r for r in recs if r.get("native_tokens_reasoning", 0) > 0]
    assert reasoning and {r["model"] for r in reasoning} >= {"openai/o1", "openai/o3-mini"}
    cache_ok = {r["model"] for r in catalog if r["cache_read_price_per_1m_usd"]}
    assert all(r["model"] in cache_ok for r in recs if r.get("native_tokens_cached", 0) > 0)


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
