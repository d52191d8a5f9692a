"""The code location as `dagster dev` loads it: lineage, checks, pools, schedule and sensor."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import dagster as dg
import pytest

from dagster_project.definitions import defs
from dagster_project.defs.automation.schedules import daily_refresh, new_gateway_files
from dagster_project.resources import DUCKDB_WRITER_POOL, WarehouseResource

MARTS = ["users", "model_catalog", "ai_usage_analytics", "user_ai_usage_summary", "model_popularity",
         "ai_revenue_analytics"]


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def _upstream(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


@pytest.mark.parametrize("mart", MARTS)
def test_every_mart_reaches_back_to_the_raw_files(graph, mart):
    upstream = _upstream(graph, dg.AssetKey(mart))
    if mart == "model_catalog":
        assert dg.AssetKey(["seeds", "model_prices"]) in upstream
    elif mart == "users":
        assert dg.AssetKey(["raw", "users"]) in upstream
    else:
        assert dg.AssetKey(["raw", "gateway_requests"]) in upstream
        assert dg.AssetKey(["seeds", "model_prices"]) in upstream


def test_dbt_tests_are_asset_checks(graph):
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert ("ai_usage_analytics", "ai_usage_analytics_row_checks") in checks
    assert ("ai_revenue_analytics", "assert_daily_revenue_equals_request_sum") in checks


# Assets that must not hold the writer pool: they only POST (and may be slow), and cannot open the warehouse.
OUTSIDE_THE_POOL = {dg.AssetKey("billing_alert_webhook_posts")}


def test_every_asset_that_writes_duckdb_is_in_the_single_writer_pool():
    executable = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition) and a.is_executable]
    assert len(executable) >= 3
    for assets_def in executable:
        if set(assets_def.keys) <= OUTSIDE_THE_POOL:
            assert assets_def.node_def.pool is None
            assert not {"warehouse", "dbt"} & assets_def.required_resource_keys, f"{assets_def.keys} opens DuckDB"
            continue
        assert assets_def.node_def.pool == DUCKDB_WRITER_POOL, f"{assets_def.keys} is not in the pool"


def test_schedule_covers_yesterday_and_the_lookback_window(monkeypatch):
    monkeypatch.setenv("AI_USAGE_LOOKBACK_DAYS", "2")
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 20, 2, 15, tzinfo=timezone.utc))
    request = daily_refresh(context)
    assert request.tags["dagster/asset_partition_range_start"] == "2026-11-17"  # yesterday and the 2 days before it
    assert request.tags["dagster/asset_partition_range_end"] == "2026-11-19"


def test_schedule_refuses_a_bad_lookback(monkeypatch):
    monkeypatch.setenv("AI_USAGE_LOOKBACK_DAYS", "two")
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 20, 2, 15, tzinfo=timezone.utc))
    with pytest.raises(Exception, match="AI_USAGE_LOOKBACK_DAYS"):
        daily_refresh(context)


def test_sensor_asks_from_the_new_files_last_write_day_less_the_lookback_to_today_and_only_once(tmp_path, monkeypatch):
    # decided from size and mtime only (no file is read in a tick): see tests/assets/test_drop_zone.py
    monkeypatch.setenv("AI_USAGE_LOOKBACK_DAYS", "2")
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    lines = [
        {"id": "a", "created_at": "2026-11-10T23:59:59-01:00", "user_id": "u", "model": "openai/gpt-4o",
         "native_tokens_prompt": 1, "native_tokens_completion": 1},
        {"id": "b", "created_at": "2026-11-08T00:00:00Z", "user_id": "u", "model": "openai/gpt-4o",
         "native_tokens_prompt": 1, "native_tokens_completion": 1},
    ]
    (gateway / "one.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    written = datetime(2026, 11, 11, 0, 30, tzinfo=timezone.utc).timestamp()  # last write on the 11th, UTC
    os.utime(gateway / "one.jsonl", (written, written))
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
        request = new_gateway_files(context)
        assert request.tags["dagster/asset_partition_range_start"] == "2026-11-09"  # the 11th less 2 days
        assert request.tags["dagster/asset_partition_range_end"] == datetime.now(timezone.utc).date().isoformat()
        context = dg.build_sensor_context(instance=instance, cursor=context.cursor, resources={"warehouse": warehouse})
        assert isinstance(new_gateway_files(context), dg.SkipReason)
