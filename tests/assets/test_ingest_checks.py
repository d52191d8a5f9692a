"""The checks on what ingest landed, against small warehouses and once against the end-to-end one.

load_log_balances and quarantine_did_not_grow are Dagster asset checks, invoked directly. users_in_the_users_export
and gateway_cost_matches_provider_cost are dbt tests (severity warn, dbt_project/tests/singular) that Dagster shows as
checks: run here by a real `dbt build` on the small warehouse (its data directory given as the var data_dir, as the
Dagster dbt asset gives it), their outcome read from run_results.json and their rows from dbt_test__audit."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from decimal import Decimal as D
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.dbt.assets import warehouse_dbt_models
from dagster_project.defs.ingest.checks import load_log_balances, quarantine_did_not_grow
from dagster_project.project import dbt_executable, dbt_project
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


# --- the dbt tests (warn) -------------------------------------------------------------------------------------

USERS_TEST = "users_in_the_users_export"
DRIFT_TEST = "gateway_cost_matches_provider_cost"
DBT_DIR = Path(dbt_project.project_dir)
DBT_SAFETY_SECONDS = 300  # a bound for the test, not a target


def dbt_build(data_dir: Path, *select: str, dbt_vars: dict | None = None) -> dict[str, dict]:
    """`dbt build --select ...` on the warehouse in `data_dir` (a subprocess, its target and logs there); returns
    run_results.json's results by node name."""
    result = subprocess.run(
        [
            dbt_executable(), "build", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
            "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs"),
            "--vars", json.dumps({**(dbt_vars or {}), "data_dir": str(data_dir)}), "--select", *select,
        ],
        capture_output=True, text=True, check=False, timeout=DBT_SAFETY_SECONDS,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    run_results = json.loads((data_dir / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[2]: r for r in run_results["results"]}


def stored_rows(data_dir: Path, test: str, columns: str) -> list[tuple]:
    """The rows a test stored (store_failures) in dbt_test__audit."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select {columns} from dbt_test__audit.{test} order by all").fetchall()


def test_users_missing_from_the_export_warn_with_count_and_ids(warehouse):
    results = dbt_build(warehouse.root, "stg_raw__gateway_requests", "stg_raw__users", USERS_TEST)
    # 2 users with 3 requests are not in the users export (billed all the same): usr_ghost, usr_lost
    assert (results[USERS_TEST]["status"], results[USERS_TEST]["failures"]) == ("warn", 2)
    assert stored_rows(warehouse.root, USERS_TEST, "user_id, requests, first_request_at::varchar") == [
        ("usr_ghost", 2, "2026-11-20 08:00:00"),
        ("usr_lost", 1, "2026-11-20 08:00:00"),
    ]


def _fake_mart(warehouse, provider_costs: dict[str, str]) -> None:
    """A stand-in for the dbt mart: the columns the test reads."""
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


COMPARED = "model, day::varchar, requests, gateway_cost_usd, provider_cost_usd, difference_usd, drifts"


def test_cost_drift_within_tolerance_is_exact(warehouse):
    # gpt-4o-mini on 2026-11-20: gateway 0.105 + 0.2 = 0.305 vs ours 0.1 + 0.19047619...: r4 has no gateway cost
    _fake_mart(warehouse, {"r1": "0.1", "r2": "0.190476190477", "r3": "0.5", "r4": "9"})
    results = dbt_build(warehouse.root, "stg_raw__gateway_requests", "stg_raw__users", DRIFT_TEST)
    # 2 model-days within 5% of the gateway's cost
    assert (results[DRIFT_TEST]["status"], results[DRIFT_TEST]["failures"]) == ("pass", 0)
    assert stored_rows(warehouse.root, DRIFT_TEST, COMPARED) == [
        ("anthropic/claude-3.5-sonnet", "2026-11-20", 1, D("0.5"), D("0.5"), D("0"), False),
        ("openai/gpt-4o-mini", "2026-11-20", 2, D("0.305"), D("0.290476190477"), D("0.014523809523"), False),
    ]


def test_cost_drift_beyond_tolerance_warns(warehouse):
    _fake_mart(warehouse, {"r1": "0.1", "r2": "0.1", "r3": "0.48"})
    results = dbt_build(warehouse.root, "stg_raw__gateway_requests", "stg_raw__users", DRIFT_TEST)
    # 1 of 2 model-days differ from the gateway's cost by more than 5%: openai/gpt-4o-mini 2026-11-20 (+0.105)
    assert (results[DRIFT_TEST]["status"], results[DRIFT_TEST]["failures"]) == ("warn", 1)
    assert stored_rows(warehouse.root, DRIFT_TEST, COMPARED) == [
        ("anthropic/claude-3.5-sonnet", "2026-11-20", 1, D("0.5"), D("0.48"), D("0.02"), False),
        ("openai/gpt-4o-mini", "2026-11-20", 2, D("0.305"), D("0.2"), D("0.105"), True),
    ]
    loose = dbt_build(warehouse.root, DRIFT_TEST, dbt_vars={"cost_drift_tolerance": 0.6})
    assert (loose[DRIFT_TEST]["status"], loose[DRIFT_TEST]["failures"]) == ("pass", 0)


def test_checks_pass_quietly_before_anything_is_landed(tmp_path):
    empty = WarehouseResource(data_dir=str(tmp_path))
    assert load_log_balances(warehouse=empty).passed
    # the dbt tests on landed tables with no rows yet (the landing creates them before dbt runs)
    with connect(empty.path):
        pass
    _fake_mart(empty, {})
    results = dbt_build(tmp_path, "stg_raw__gateway_requests", "stg_raw__users", USERS_TEST, DRIFT_TEST)
    assert {name: (results[name]["status"], results[name]["failures"]) for name in (USERS_TEST, DRIFT_TEST)} == {
        USERS_TEST: ("pass", 0), DRIFT_TEST: ("pass", 0),
    }


def test_the_dbt_tests_are_dagster_checks_with_descriptions():
    specs = {spec.key.name: spec for spec in warehouse_dbt_models.check_specs}
    assert specs[USERS_TEST].asset_key == dg.AssetKey(["staging", "stg_raw__gateway_requests"])
    assert specs[DRIFT_TEST].asset_key == dg.AssetKey("ai_usage_analytics")
    assert specs[USERS_TEST].description.startswith("Warns about requests from users missing from the users export")
    assert "cost_drift_tolerance (default 0.05 = 5%)" in specs[DRIFT_TEST].description


def test_checks_on_the_end_to_end_warehouse(built_warehouse):
    warehouse = WarehouseResource(data_dir=str(built_warehouse))
    assert load_log_balances(warehouse=warehouse).passed
    # the dbt tests ran in the end-to-end build (its Dagster run): their rows are kept in dbt_test__audit
    assert [row[0] for row in stored_rows(built_warehouse, USERS_TEST, "user_id")] == ["usr_ghost"]
    assert stored_rows(built_warehouse, DRIFT_TEST, "count(*), count(*) filter (where drifts)") == [
        (1, 0)  # only g01 carries a gateway cost
    ]
