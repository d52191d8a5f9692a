"""Exact against the source: genai-prices' own calc_price is the oracle for every price the warehouse computes.

Requests are generated from the committed catalog: every catalog model and every platform alias, every token type
(input, cache read, cache write 5m and 1h, output, reasoning), both sides of every long-context threshold, both
sides of every time-of-day window edge, every service tier (and one the source does not know), and the first and
last second of every validity period (so every dated price change). They are landed through the log contract into
a tmp DuckDB and priced by a real `dbt build`; the provider cost of every request must equal the oracle's to the
12th decimal (rounded half to even). Where an override prices the request, the override's price is expected.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import pytest

from dagster_project.project import dbt_executable, dbt_project
from ingest import warehouse
from ingest.catalog import ALIAS_HEADER, ALIASES_CSV, HEADER, PRICES_CSV, price_context, read_csv

DBT_DIR = Path(dbt_project.project_dir)
TIERS = (None, "default", "flex", "priority", "batch", "fast", "scale")  # None: the field absent
PICO = Decimal("1e-12")
BASE_INPUT = 12_345


def _tokens(prompt: int) -> dict[str, int]:
    """Every token type in one request: a quarter of the prompt read from the cache, an eighth written (half of
    that with a 1-hour lifetime), reasoning inside the output."""
    cache_write = prompt // 8
    return {"native_tokens_prompt": prompt, "native_tokens_cached": prompt // 4,
            "native_tokens_cache_creation": cache_write, "native_tokens_cache_creation_1h": cache_write // 2,
            "native_tokens_completion": 7_777, "native_tokens_reasoning": 3_333}


def _periods(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    periods: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        periods.setdefault((row["model"], row["valid_from"]), []).append(row)
    return periods


def _instants(period_rows: list[dict]) -> list[datetime]:
    """The first and last second of the period, and both sides of every window edge on one of its days."""
    first = period_rows[0]
    valid_from = date.fromisoformat(first["valid_from"])
    valid_to = date.fromisoformat(first["valid_to"]) if first["valid_to"] else None
    day = valid_from if valid_from.year > 2000 else (valid_to - timedelta(days=1) if valid_to else date(2026, 11, 20))
    instants = {datetime.combine(day, time(0, 0)), datetime.combine(day, time(23, 59, 59))}
    if valid_to:
        instants.add(datetime.combine(valid_to, time(0, 0)) - timedelta(seconds=1))
    for row in period_rows:
        if row["window_start"]:
            edge = datetime.combine(day, time.fromisoformat(row["window_start"]))
            instants |= {edge, edge - timedelta(seconds=1)}
    return sorted(i for i in instants if i.year > 2000)


def _prompts(period_rows: list[dict]) -> list[int]:
    thresholds = sorted({int(r["input_tokens_above"]) for r in period_rows if r["input_tokens_above"]})
    return [BASE_INPUT, *(n for t in thresholds for n in (t, t + 1))]


def generate_requests(prices: list[dict], aliases: list[dict]) -> list[dict]:
    requests = []
    for (model, _), rows in sorted(_periods(prices).items()):
        for at in _instants(rows):
            for tier in TIERS:
                for prompt in _prompts(rows):
                    requests.append({"model": model, "at": at, "tier": tier, **_tokens(prompt)})
    for alias in aliases:  # the platform's names: the day before the alias applies and its first day
        day = date.fromisoformat(alias["valid_from"]) if alias["valid_from"] else date(2026, 11, 20)
        for at in (datetime.combine(day, time(0, 0)) - timedelta(seconds=1), datetime.combine(day, time(0, 0))):
            for tier in (None, "batch"):
                requests.append({"model": alias["alias"], "at": at, "tier": tier, **_tokens(BASE_INPUT)})
    for i, r in enumerate(requests):
        r["id"] = f"o{i:06d}"
    return requests


def _catalog_model(model: str, at: datetime, aliases: list[dict]) -> str:
    for a in aliases:
        if a["alias"] == model and (not a["valid_from"] or at.date() >= date.fromisoformat(a["valid_from"])):
            return a["model"]
    return model


def _override_cost(row: dict, r: dict) -> Decimal:
    """pricing-rules.md step 3 by hand, for an override row (the source does not price it)."""
    def price(*columns: str) -> Decimal:
        return next(Decimal(row[c]) for c in columns if row[c])

    inp, cached = r["native_tokens_prompt"], r["native_tokens_cached"]
    cw, cw1h = r["native_tokens_cache_creation"], r["native_tokens_cache_creation_1h"]
    out, reasoning = r["native_tokens_completion"], r["native_tokens_reasoning"]
    total = ((inp - cached - cw) * price("input_price_per_1m_usd")
             + cached * price("cache_read_price_per_1m_usd", "input_price_per_1m_usd")
             + (cw - cw1h) * price("cache_write_price_per_1m_usd", "input_price_per_1m_usd")
             + cw1h * price("cache_write_1h_price_per_1m_usd", "cache_write_price_per_1m_usd", "input_price_per_1m_usd")
             + (out - reasoning) * price("output_price_per_1m_usd")
             + reasoning * price("reasoning_price_per_1m_usd", "output_price_per_1m_usd"))
    return (total / Decimal(1_000_000)).quantize(PICO, rounding=ROUND_HALF_EVEN)


def _oracle(model: str, r: dict) -> Decimal:
    """genai-prices' calc_price for the request (its own model lookup; the model object itself where the lookup
    by the source's id finds another model first)."""
    from genai_prices import Usage, calc_price
    from genai_prices.data_snapshot import get_snapshot

    provider_id, _, ref = model.partition("/")
    usage = Usage(
        input_tokens=r["native_tokens_prompt"],
        cache_read_tokens=r["native_tokens_cached"],
        cache_write_tokens=r["native_tokens_cache_creation"],
        cache_write_1h_tokens=r["native_tokens_cache_creation_1h"],
        output_tokens=r["native_tokens_completion"],
        output_reasoning_tokens=r["native_tokens_reasoning"],
    )
    at = r["at"].replace(tzinfo=UTC)
    context = price_context(r["tier"])
    snapshot = get_snapshot()
    try:
        provider, found = snapshot.find_provider_model(ref, None, provider_id, None)
    except LookupError:  # the source's match rules miss its own id (mistral/codestral): take the model itself
        provider = next(p for p in snapshot.providers if p.id == provider_id)
        found = None
    if found is not None and found.id == ref:
        total = calc_price(usage, ref, provider_id=provider_id, genai_request_timestamp=at,
                           price_context=context).total_price
    else:
        exact = next(m for m in provider.models if m.id == ref)
        total = exact.calc_price(usage, provider, genai_request_timestamp=at, price_context=context).total_price
    return total.quantize(PICO, rounding=ROUND_HALF_EVEN)


def expected_cost(r: dict, prices_by_model: dict[str, list[dict]], aliases: list[dict]) -> tuple[Decimal, str]:
    model = _catalog_model(r["model"], r["at"], aliases)
    day = r["at"].date().isoformat()
    rows = [p for p in prices_by_model[model]
            if p["valid_from"] <= day and (not p["valid_to"] or day < p["valid_to"])]
    assert rows, f"{r['model']} has no catalog row on {day}"
    if rows[0]["price_source"] == "override":
        assert len(rows) == 1
        return _override_cost(rows[0], r), "override"
    return _oracle(model, r), "source"


@pytest.fixture(scope="module")
def priced(tmp_path_factory) -> tuple[list[dict], dict[str, Decimal]]:
    prices = read_csv(PRICES_CSV, HEADER)
    aliases = [a for a in read_csv(ALIASES_CSV, ALIAS_HEADER) if "/" in a["alias"]]
    platform_aliases = [a for a in aliases if a["valid_from"]]
    requests = generate_requests(prices, platform_aliases)
    data_dir = tmp_path_factory.mktemp("oracle")
    gateway = data_dir / "raw" / "gateway"
    gateway.mkdir(parents=True)
    with open(gateway / "oracle.jsonl", "w", encoding="utf-8") as f:
        for r in requests:
            record = {"id": r["id"], "created_at": r["at"].isoformat() + "Z", "user_id": "oracle", "model": r["model"],
                      "status_code": 200, **{k: v for k, v in r.items() if k.startswith("native_tokens")}}
            if r["tier"] is not None:
                record["service_tier"] = r["tier"]
            f.write(json.dumps(record) + "\n")
    con = warehouse.connect(data_dir / "warehouse.duckdb")
    try:
        # the catalog has dated rows for days still ahead (announced price changes): land them as if it were 2030
        results = warehouse.load_gateway_files(con, data_dir, load_id="oracle", now=datetime(2030, 1, 1, tzinfo=UTC))
    finally:
        con.close()
    assert [(x.accepted, x.quarantined) for x in results] == [(len(requests), 0)]
    # in a subprocess: dbt-duckdb keeps its connection open in-process
    result = subprocess.run(
        [dbt_executable(), "build", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
         "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs"),
         "--select", "+ai_usage_analytics", "--exclude", "test_type:unit", "--indirect-selection", "cautious"],
        env={**os.environ, "AI_USAGE_DATA_DIR": str(data_dir)}, capture_output=True, text=True, check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as db:
        costs = dict(db.execute("select request_id, provider_cost_usd from ai_usage_analytics").fetchall())
    return requests, costs


def test_every_generated_request_costs_what_genai_prices_says(priced):
    requests, costs = priced
    prices = read_csv(PRICES_CSV, HEADER)
    aliases = [a for a in read_csv(ALIASES_CSV, ALIAS_HEADER) if a["valid_from"]]
    by_model: dict[str, list[dict]] = {}
    for p in prices:
        by_model.setdefault(p["model"], []).append(p)
    assert len(requests) > 5_000
    wrong, kinds = [], {"override": 0, "source": 0}
    for r in requests:
        expected, kind = expected_cost(r, by_model, aliases)
        kinds[kind] += 1
        if costs.get(r["id"]) != expected:
            wrong.append((r["id"], r["model"], r["at"].isoformat(), r["tier"], r["native_tokens_prompt"],
                          costs.get(r["id"]), expected))
    assert wrong == [], f"{len(wrong)} of {len(requests)} differ, e.g. {wrong[:5]}"
    assert kinds["override"] > 500 and kinds["source"] > 5_000


def test_every_dimension_is_exercised(priced):
    requests, _ = priced
    assert {r["tier"] for r in requests} == set(TIERS)
    models = {r["model"] for r in requests}
    prices = read_csv(PRICES_CSV, HEADER)
    assert {p["model"] for p in prices} <= models
    assert any(p["window_start"] for p in prices) and any(p["input_tokens_above"] for p in prices)
    assert {"default", "any", "flex", "priority", "batch"} - {"default"} <= {p["service_tier"] for p in prices}
    assert any(p["cache_write_1h_price_per_1m_usd"] for p in prices)
    assert len({p["valid_from"] for p in prices}) > 10  # dated changes


def test_oracle_sees_the_documented_source_cases():
    """Where the source's own lookup by name goes wrong, the catalog does not follow it (docs/pricing-rules.md):
    genai-prices resolves `gemini-1.5-flash-8b` by prefix to gemini-1.5-flash, twice the 8B's price, so the
    platform's name keeps its override (0.0375 / 0.15)."""
    from genai_prices.data_snapshot import get_snapshot

    _, found = get_snapshot().find_provider_model("gemini-1.5-flash-8b", None, "google", None)
    assert found.id == "gemini-1.5-flash"
    rows = [p for p in read_csv(PRICES_CSV, HEADER) if p["model"] == "google/gemini-1.5-flash-8b"]
    assert [(p["input_price_per_1m_usd"], p["output_price_per_1m_usd"], p["valid_to"], p["price_source"])
            for p in rows] == [("0.0375", "0.15", "", "override")]


def test_seed_header_is_what_the_generator_writes():
    with open(PRICES_CSV, newline="", encoding="utf-8") as f:
        assert tuple(next(csv.reader(f))) == HEADER
