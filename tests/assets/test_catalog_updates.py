"""The optional catalog price check: a LiteLLM-format price list served from 127.0.0.1 by the test, compared
with model_catalog of the standard build, written to catalog_price_changes. It never changes a price."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from decimal import Decimal as D
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.catalog.price_changes import SKIPPED, catalog_price_changes
from ingest import catalog
from ingest.price_list import PRICE_LIST_ENV, ListPrice, compare_catalog, per_token_to_per_1m, redact
from tests.conftest import resources_for

FIXTURE_DIR = Path(__file__).parents[1] / "fixtures" / "price_list"
FIXTURE_NAME = "model_prices_and_context_window.json"

# The catalog compared is the one in effect on AS_OF (the fixture's days): the platform's billed prices (overrides
# until 2026-12-01) and every genai-prices model.
AS_OF = "2026-11-24"
PRICE_DIFFERS = [
    # change_type, model, list_model, differing, our input/output/cache read, list input/output/cache read
    ("price_differs", "azure/gpt-4o-mini", "azure/gpt-4o-mini", "input, output, cache_read",
     D("0.15"), D("0.6"), D("0.075"), D("0.165"), D("0.66"), D("0.083")),
    ("price_differs", "mistral/mistral-small", "mistral/mistral-small-latest", "input, output",
     D("0.2"), D("0.6"), None, D("0.1"), D("0.3"), None),
    # genai-prices' mistral-small-latest (0.15 / 0.60) against the fixture list's older 0.10 / 0.30
    ("price_differs", "mistral/mistral-small-latest", "mistral/mistral-small-latest", "input, output",
     D("0.15"), D("0.6"), D("0.015"), D("0.1"), D("0.3"), None),
]
NEW_IN_LIST = [
    # (the list's gpt-4.1 is now matched: genai-prices brings openai/gpt-4.1, at the list's price)
    ("new_in_list", None, "claude-3-7-sonnet-20250219", None, None, None, None, D("3"), D("15"), D("0.3")),
]
ROWS_SQL = """
    select change_type, model, list_model, differing_prices,
           our_input_price_per_1m_usd, our_output_price_per_1m_usd, our_cache_read_price_per_1m_usd,
           list_input_price_per_1m_usd, list_output_price_per_1m_usd, list_cache_read_price_per_1m_usd
    from ops.catalog_price_changes order by all
"""


@pytest.fixture
def price_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the fixture list; yields its base URL."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(FIXTURE_DIR))
    handler.log_message = lambda *args: None  # keep pytest output quiet
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def warehouse_copy(built_warehouse: Path, tmp_path: Path) -> Path:
    """A writable copy of the standard warehouse (model_catalog and seeds.price_list_aliases built)."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    return tmp_path


def _materialize(data_dir: Path, source: str | None = None) -> dg.ExecuteInProcessResult:
    config = {"as_of": AS_OF, **({"source": source} if source else {})}
    return dg.materialize(
        [catalog_price_changes],
        resources=resources_for(data_dir),
        run_config={"resources": {"price_list": {"config": config}}},
        raise_on_error=False,
    )


def _sort_key(row: tuple) -> tuple:
    return tuple("" if value is None else str(value) for value in row)


def _rows(data_dir: Path) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(ROWS_SQL).fetchall()
    return sorted(rows, key=_sort_key)


def _assert_the_review(data_dir: Path) -> None:
    rows = _rows(data_dir)
    assert [r for r in rows if r[0] != "missing_from_list"] == sorted(PRICE_DIFFERS + NEW_IN_LIST, key=_sort_key)
    missing = {r[1] for r in rows if r[0] == "missing_from_list"}
    # the list lacks Meta's Llama (Together) prices and most of genai-prices' models; it has the guide's models
    assert {"meta/llama-3.1-405b", "cohere/command-r-plus", "openai/gpt-5-mini"} <= missing
    assert not {"openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "google/gemini-1.5-flash"} & missing
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        actions = dict(con.execute("select distinct change_type, action from ops.catalog_price_changes").fetchall())
    assert actions["price_differs"].startswith("check the provider's price page")
    assert "price_list_aliases.csv" in actions["missing_from_list"]


def test_price_list_from_a_server_lists_what_to_review(warehouse_copy: Path, price_server: str, monkeypatch):
    monkeypatch.delenv(PRICE_LIST_ENV, raising=False)
    result = _materialize(warehouse_copy, f"{price_server}/{FIXTURE_NAME}?token=s3cr3t")
    assert result.success
    _assert_the_review(warehouse_copy)
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select distinct price_list_source from ops.catalog_price_changes").fetchall() == [
            (f"{price_server}/{FIXTURE_NAME}",)
        ]
        # It never changes a price.
        assert con.execute(
            "select input_price_per_1m_usd from model_catalog where model = 'azure/gpt-4o-mini'"
        ).fetchall() == [(D("0.15"), ), (D("0.15"), )]  # the billed price, then genai-prices' from 2026-12-01
    metadata = result.asset_materializations_for_node("catalog_price_changes")[0].metadata
    assert metadata["price_differs"].value == 3 and metadata["new_in_list"].value == 1
    assert metadata["source_differences"].value == 0
    logs = " ".join(str(event.message) for event in result.all_events)
    assert "s3cr3t" not in logs


def test_a_local_file_from_the_env_var_works_too(warehouse_copy: Path, monkeypatch):
    monkeypatch.setenv(PRICE_LIST_ENV, str(FIXTURE_DIR / FIXTURE_NAME))
    assert _materialize(warehouse_copy).success
    _assert_the_review(warehouse_copy)


def test_without_a_price_list_it_still_compares_with_the_installed_source(warehouse_copy: Path, monkeypatch):
    """The table always exists: with the pinned package and the committed seeds it is empty; the public list part
    is skipped cleanly and nothing is downloaded."""
    monkeypatch.delenv(PRICE_LIST_ENV, raising=False)
    result = _materialize(warehouse_copy)
    assert result.success
    metadata = result.asset_materializations_for_node("catalog_price_changes")[0].metadata
    assert metadata["skipped"].value is True and metadata["reason"].value == SKIPPED
    assert metadata["source_differences"].value == 0
    assert metadata["installed_source"].value == "genai-prices 0.2.3 (installed)"
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from ops.catalog_price_changes").fetchone() == (0,)


def test_a_source_upgrade_shows_up_with_what_to_do(warehouse_copy: Path, tmp_path: Path, monkeypatch):
    """As if the installed genai-prices priced GPT-4o Mini differently from the committed catalog (simulated by
    committing an edited seed): the row says what changed and what a person should do."""
    monkeypatch.delenv(PRICE_LIST_ENV, raising=False)
    edited = tmp_path / "model_prices.csv"
    row = "openai/gpt-4o-mini,openai,GPT-4o Mini,most_users,any,,,,,"
    edited.write_text(catalog.PRICES_CSV.read_text(encoding="utf-8").replace(row + "0.15,", row + "0.16,", 1),
                      encoding="utf-8")
    monkeypatch.setattr(catalog, "PRICES_CSV", edited)
    assert _materialize(warehouse_copy).success
    with duckdb.connect(str(warehouse_copy / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select change_type, model, differing_prices, action, list_provider from ops.catalog_price_changes"
        ).fetchall()
    assert rows == [(
        "source_repriced", "openai/gpt-4o-mini",
        "openai/gpt-4o-mini from 2024-01-01: input_price_per_1m_usd '0.16' -> '0.15'",
        catalog.REVIEW_ACTIONS["re-priced"], "genai-prices 0.2.3 (installed)",
    )]


def test_an_http_error_fails_with_a_clear_message_and_no_secret(warehouse_copy: Path, price_server: str,
                                                                 monkeypatch):
    monkeypatch.delenv(PRICE_LIST_ENV, raising=False)
    result = _materialize(warehouse_copy, f"{price_server}/nothing-here.json?token=s3cr3t")
    assert not result.success
    failure = next(event for event in result.all_events if event.event_type_value == "STEP_FAILURE")
    description = str(failure.step_failure_data.user_failure_data.description)
    assert description == f"price list {price_server}/nothing-here.json: HTTP 404; check {PRICE_LIST_ENV}"
    assert "s3cr3t" not in " ".join(str(event.message) for event in result.all_events)


def test_per_token_prices_become_exact_per_million():
    assert per_token_to_per_1m(D("1.5e-07")) == D("0.15") and str(per_token_to_per_1m(D("1.5e-07"))) == "0.15"
    assert str(per_token_to_per_1m(D("3e-06"))) == "3"
    assert str(per_token_to_per_1m(D("1.875e-05"))) == "18.75"
    assert str(per_token_to_per_1m(D("1.25e-08"))) == "0.0125"
    assert per_token_to_per_1m(None) is None and per_token_to_per_1m("n/a") is None


def test_a_list_cache_price_where_we_have_none_is_a_difference():
    ours = [{"model": "openai/gpt-4o", "provider": "openai", "input_price_per_1m_usd": D("2.5"),
             "output_price_per_1m_usd": D("10"), "cache_read_price_per_1m_usd": None,
             "cache_write_price_per_1m_usd": D("3")}]
    listed = {"gpt-4o": ListPrice("gpt-4o", "openai", "chat", {
        "input": D("2.5"), "output": D("10"), "cache_read": D("1.25"), "cache_write": None})}
    [row] = compare_catalog(ours, listed)
    assert (row["change_type"], row["differing_prices"]) == ("price_differs", "cache_read")


def test_redact_keeps_no_credentials():
    url = "https://user:pw@example.com:8443/p/list.json?token=x#f"
    assert redact(url) == "https://example.com:8443/p/list.json"
    assert redact("/data/list.json") == "/data/list.json"
