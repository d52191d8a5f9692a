"""The committed catalog is what the pinned genai-prices and the overrides generate; no price loses a digit."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb

from ingest import catalog
from ingest.catalog import HEADER, PRICE_COLUMNS, PRICES_CSV, read_csv


def test_committed_catalog_is_what_the_pinned_source_and_overrides_generate(capsys):
    """A package upgrade never changes a bill by itself: `make catalog`, review, commit."""
    assert catalog.main(["--check"]) == 0, capsys.readouterr().err
    generated = catalog.generate()
    assert catalog.render_csv(generated.prices, HEADER) == PRICES_CSV.read_text(encoding="utf-8")


def test_check_fails_and_names_the_change_when_the_seed_was_edited(tmp_path: Path, monkeypatch, capsys):
    edited = tmp_path / "model_prices.csv"
    row = "openai/gpt-4o-mini,openai,GPT-4o Mini,most_users,any,,,,,"
    text = PRICES_CSV.read_text(encoding="utf-8").replace(row + "0.15,", row + "0.16,", 1)
    edited.write_text(text, encoding="utf-8")
    monkeypatch.setattr(catalog, "PRICES_CSV", edited)
    assert catalog.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "re-priced openai/gpt-4o-mini from 2024-01-01: input_price_per_1m_usd '0.16' -> '0.15'" in err
    assert "make catalog" in err


def test_every_row_names_its_source_and_version_or_its_reason():
    version = catalog.source_version()
    assert version == "0.2.3"
    for row in read_csv(PRICES_CSV, HEADER):
        if row["price_source"] == "override":
            assert row["note"] and not row["source_model"], row
        else:
            assert row["price_source"] == f"genai-prices {version}" and row["source_model"], row


def test_every_model_the_platform_billed_keeps_its_history():
    """All 40 names of the hand-typed catalog price as before until 2026-12-01 (their overrides), then through the
    source (same id or an alias) unless the source lacks them (open-ended override)."""
    rows = read_csv(PRICES_CSV, HEADER)
    aliases = {a["alias"]: a for a in read_csv(catalog.ALIASES_CSV, catalog.ALIAS_HEADER)}
    overrides = read_csv(catalog.OVERRIDES_CSV, catalog.OVERRIDE_HEADER)
    billed = {r["model"] for r in overrides}
    assert len(billed) == 40
    for model in billed:
        own = sorted((r for r in rows if r["model"] == model), key=lambda r: r["valid_from"])
        assert own[0]["price_source"] == "override"
        last_override = [r for r in own if r["price_source"] == "override"][-1]
        if last_override["valid_to"] == "":
            continue
        assert last_override["valid_to"] == "2026-12-01"
        after = [r for r in own if r["valid_from"] >= "2026-12-01"]
        assert after or aliases[model]["valid_from"] == "2026-12-01", model
    assert aliases["anthropic/claude-3.5-sonnet"]["model"] == "anthropic/claude-3-5-sonnet"
    assert aliases["mistral/mistral-medium"]["model"] == "mistral/mistral-medium-2312"


def test_no_price_loses_a_digit_in_the_warehouse(con):
    """Every price of the seed, as text, equals the warehouse's decimal(38, 12) value exactly."""
    with open(PRICES_CSV, newline="", encoding="utf-8") as f:
        seed = list(csv.DictReader(f))
    columns = list(PRICE_COLUMNS.values())
    loaded = con.execute(
        f"select model, valid_from::varchar, service_tier, coalesce(window_start::varchar, ''), "
        f"coalesce(input_tokens_above::varchar, ''), {', '.join(columns)} from model_catalog"
    ).fetchall()
    by_key = {tuple(r[:5]): r[5:] for r in loaded}
    assert len(by_key) == len(seed)
    digits = 0
    for row in seed:
        key = (row["model"], row["valid_from"], row["service_tier"], row["window_start"], row["input_tokens_above"])
        for column, value in zip(columns, by_key[key], strict=True):
            expected = Decimal(row[column]) if row[column] else None
            assert value == expected, (key, column, value, expected)
            if expected is not None:
                digits = max(digits, -expected.normalize().as_tuple().exponent)
    assert digits == 6  # the finest price today (e.g. 0.009375): the seed's 12 decimals hold it and more


def test_the_generator_refuses_a_price_the_seed_cannot_hold(tmp_path: Path):
    bad = tmp_path / "overrides.csv"
    with open(catalog.OVERRIDES_CSV, encoding="utf-8") as f:
        text = f.read()
    bad.write_text(text.replace("azure/crowe-logic-assistant,azure,Crowe Logic Assistant,power_users,2.50",
                                "azure/crowe-logic-assistant,azure,Crowe Logic Assistant,power_users,2.5000000000001"),
                   encoding="utf-8")
    try:
        catalog.generate(bad, catalog.ALIAS_OVERRIDES_CSV)
    except ValueError as error:
        assert "line" in str(error) and "more than 12 decimals" in str(error)
    else:
        raise AssertionError("a price with 13 decimals was accepted")


def test_catalog_loads_into_duckdb_with_the_declared_types(con: duckdb.DuckDBPyConnection):
    types = dict(con.execute(
        "select column_name, data_type from information_schema.columns where table_name = 'model_catalog'"
    ).fetchall())
    assert types["input_price_per_1m_usd"] == "DECIMAL(38,12)" and types["window_start"] == "TIME"
