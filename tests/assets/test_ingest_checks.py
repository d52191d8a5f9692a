"""The ingest asset checks, invoked directly against small warehouses (and once against the end-to-end one)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal as D
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.ingest.checks import (
    CostDriftConfig,
    drift_tolerance,
    gateway_cost_matches_provider_cost,
    load_log_balances,
    quarantine_did_not_grow,
    users_in_the_users_export,
)
from dagster_project.resources import WarehouseResource
from ingest.warehouse import Quarantined, connect, land_requests, parse_line

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def request(request_id: str, user: str = "usr_1", model: str = "openai/gpt-4o-mini", cost: str | None = None):
    value = {
        "id": request_id,
        "created_at": "2026-11-20T08:00:00Z",
        "user_id": user,
        "model": model,
        "native_tokens_prompt": 100,
        "native_tokens_completion": 10,
    }
    text = json.dumps(value)
    if cost is not None:  # as the exact JSON number
        text = text[:-1] + f', "total_cost": {cost}}}'
    return parse_line(text, now=NOW)


@pytest.fixture
def warehouse(tmp_path: Path) -> WarehouseResource:
    with connect(tmp_path / "warehouse.duckdb") as con:
        land_requests(
            con,
            source="a.jsonl",
            source_kind="gateway_file",
            load_id="run-1",
            items=[
                (1, request("r1", cost="0.105")),
                (2, request("r2", user="usr_ghost", cost="0.2")),
                (3, Quarantined(3, "not_json", None, "not valid JSON", "garbage")),
            ],
        )
        land_requests(
            con,
            source="api:gw:2026-11-20T00:00:00Z/2026-11-21T00:00:00Z",
            source_kind="gateway_api",
            load_id="run-2",
            items=[
                (1, request("r3", user="usr_ghost", model="anthropic/claude-3.5-sonnet", cost="0.5")),
                (2, request("r4", user="usr_lost")),
                (3, Quarantined(3, "negative_tokens", "tokens_in", "tokens_in is negative (-3)", "{}")),
                (4, Quarantined(4, "bad_metadata", "metadata", "metadata is not JSON", "{}")),
            ],
        )
        con.execute("insert into raw.users values ('usr_1', 'a@example.com', '2026-01-01', 'pro', 2, now())")
    return WarehouseResource(data_dir=str(tmp_path))


def test_load_log_balances_passes_then_fails_with_error_severity(warehouse):
    result = load_log_balances(warehouse=warehouse)
    assert result.passed and result.description == "all 2 landed sources add up"
    with connect(warehouse.path) as con:
        con.execute(
            "insert into raw.load_log values ('run-3', 'b.jsonl', 'gateway_file', null, 10, 5, 1, 1, "
            "now(), now())"
        )
    result = load_log_balances(warehouse=warehouse)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.description == "1 of 3 landed sources do not add up: lines are missing from the counts"
    assert (
        "| run-3 | b.jsonl | gateway_file | 10 | 5 | 1 | 1 |" in result.metadata["unbalanced_sources"].value
    )


def test_quarantine_growth_warns_with_the_reasons_of_the_latest_load(warehouse):
    result = quarantine_did_not_grow(context=dg.build_op_context(), warehouse=warehouse)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == (
        "load run-2 quarantined 2 new lines: bad_metadata 1, negative_tokens 1. "
        "See raw.quarantine (reason, source, line_number, field, detail)"
    )
    assert result.metadata["total_rows"].value == 3


def test_quarantine_growth_passes_when_the_latest_load_was_clean(warehouse):
    with connect(warehouse.path) as con:
        land_requests(
            con, source="c.jsonl", source_kind="gateway_file", load_id="run-3", items=[(1, request("r1"))]
        )
    result = quarantine_did_not_grow(context=dg.build_op_context(), warehouse=warehouse)
    assert result.passed and result.description == "load run-3 quarantined nothing new"


def test_users_missing_from_the_export_warn_with_count_and_ids(warehouse):
    result = users_in_the_users_export(warehouse=warehouse)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == (
        "2 users with 3 requests are not in the users export (billed all the same; the next export should have "
        "them): usr_ghost, usr_lost"
    )


def _fake_mart(warehouse, provider_costs: dict[str, str]) -> None:
    """A stand-in for the dbt mart: the columns the check reads."""
    with connect(warehouse.path) as con:
        con.execute(
            "create table main.ai_usage_analytics (request_id varchar, model varchar, created_at timestamp, "
            "provider_cost_usd decimal(38, 12))"
        )
        for request_id, cost in provider_costs.items():
            con.execute(
                "insert into main.ai_usage_analytics select id, model, created_at, ?::decimal(38, 12) "
                "from raw.gateway_requests where id = ?",
                [cost, request_id],
            )


def test_cost_drift_within_tolerance_is_exact(warehouse):
    # gpt-4o-mini on 2026-11-20: gateway 0.105 + 0.2 = 0.305 vs ours 0.1 + 0.19047619...: r4 has no gateway cost
    _fake_mart(warehouse, {"r1": "0.1", "r2": "0.190476190477", "r3": "0.5", "r4": "9"})
    result = gateway_cost_matches_provider_cost(warehouse=warehouse, config=CostDriftConfig())
    assert result.passed, result.description
    assert result.description == "2 model-days within 5% of the gateway's cost"


def test_cost_drift_beyond_tolerance_warns(warehouse):
    _fake_mart(warehouse, {"r1": "0.1", "r2": "0.1", "r3": "0.48"})
    result = gateway_cost_matches_provider_cost(warehouse=warehouse, config=CostDriftConfig())
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == (
        "1 of 2 model-days differ from the gateway's cost by more than 5%: "
        "openai/gpt-4o-mini 2026-11-20 (+0.105000000000)"
    )
    loose = gateway_cost_matches_provider_cost(warehouse=warehouse, config=CostDriftConfig(tolerance="0.6"))
    assert loose.passed and loose.metadata["tolerance"].value == "0.6"


def test_cost_drift_tolerance_from_the_environment(monkeypatch):
    assert drift_tolerance("") == D("0.05")
    monkeypatch.setenv("AI_USAGE_COST_DRIFT_TOLERANCE", "0.02")
    assert drift_tolerance("") == D("0.02") and drift_tolerance("0.1") == D("0.1")
    monkeypatch.setenv("AI_USAGE_COST_DRIFT_TOLERANCE", "five percent")
    with pytest.raises(ValueError, match="AI_USAGE_COST_DRIFT_TOLERANCE"):
        drift_tolerance("")


def test_checks_pass_quietly_before_anything_is_landed(tmp_path):
    empty = WarehouseResource(data_dir=str(tmp_path))
    assert load_log_balances(warehouse=empty).passed
    assert users_in_the_users_export(warehouse=empty).passed
    assert gateway_cost_matches_provider_cost(warehouse=empty, config=CostDriftConfig()).passed


def test_checks_on_the_end_to_end_warehouse(built_warehouse):
    warehouse = WarehouseResource(data_dir=str(built_warehouse))
    assert load_log_balances(warehouse=warehouse).passed
    users = users_in_the_users_export(warehouse=warehouse)
    assert users.metadata["missing_users"].value == 1 and "usr_ghost" in users.description
    drift = gateway_cost_matches_provider_cost(warehouse=warehouse, config=CostDriftConfig())
    assert (
        drift.passed and drift.metadata["model_days_compared"].value == 1
    )  # only g01 carries a gateway cost
