"""Readers and writers never block each other: people read <data dir>/published/warehouse.duckdb, which every run
replaces atomically once its writes are done (issue 12, item 1)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.publish.published import published_warehouse
from dagster_project.publish.published import publish, published_path
from tests.conftest import materialize_all, resources_for

# A reader in its own process (DuckDB's file locks are per process): prints the figures, then on each line of stdin
# prints them again from the connection it holds ("held") or from a new one ("reconnect").
READER = r"""
import json, sys, duckdb
path = sys.argv[1]
query = "select requests, revenue_usd::varchar, last_request_date::varchar from run_summary"
con = duckdb.connect(path, read_only=True)
print(json.dumps(con.execute(query).fetchone()), flush=True)
for line in sys.stdin:
    if line.strip() == "reconnect":
        con.close()
        con = duckdb.connect(path, read_only=True)
    print(json.dumps(con.execute(query).fetchone()), flush=True)
"""

# One more request on a new day: usr_past is past the trial, gpt-4o-mini 1,000 in + 500 out costs 0.00045 and is
# charged the minimum, 0.001.
NEW_DAY = ('{"id":"g20","created_at":"2026-11-22T08:00:00Z","user_id":"usr_past","model":"openai/gpt-4o-mini",'
           '"status_code":200,"native_tokens_prompt":1000,"native_tokens_completion":500}\n')


def test_the_run_publishes_a_read_only_copy_that_people_open(built_warehouse):
    published = published_path(built_warehouse)
    assert published == built_warehouse / "published" / "warehouse.duckdb"
    assert published.stat().st_mode & 0o777 == 0o444
    assert not [p for p in published.parent.iterdir() if p.name != "warehouse.duckdb"]  # no temp file, no WAL
    with duckdb.connect(str(published), read_only=True) as con:
        # tables and the finance/reporting views (compiled against the catalog name `warehouse`) both answer
        assert con.execute("select requests, revenue_usd::varchar from run_summary").fetchone() == (
            10, "0.201431818182")
        assert con.execute("select count(*) from user_statements").fetchone() == (5,)


def test_a_reader_holding_the_published_copy_never_blocks_a_run_and_sees_new_figures_on_reconnect(
    built_warehouse, tmp_path
):
    data_dir = tmp_path / "data"
    shutil.copytree(built_warehouse, data_dir)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(published_path(data_dir))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(reader.stdout.readline()) == [10, "0.201431818182", "2026-11-21"]

        (data_dir / "raw" / "gateway" / "2026-11-22.jsonl").write_text(NEW_DAY)
        result = materialize_all(data_dir, days=(date(2026, 11, 20), date(2026, 11, 22)))
        assert result.success
        assert result.asset_materializations_for_node("published_warehouse")[0].metadata["requests"].value == 11

        reader.stdin.write("held\n")
        reader.stdin.flush()
        assert json.loads(reader.stdout.readline()) == [10, "0.201431818182", "2026-11-21"]  # its copy, undisturbed
        reader.stdin.write("reconnect\n")
        reader.stdin.flush()
        assert json.loads(reader.stdout.readline()) == [11, "0.202431818182", "2026-11-22"]
    finally:
        reader.stdin.close()
        assert reader.wait(timeout=60) == 0


def test_a_copy_without_the_marts_is_not_published(tmp_path, built_warehouse):
    """A warehouse that lacks the marts (nothing built yet) leaves the published copy as it was."""
    empty = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(empty)).close()
    target = tmp_path / "published" / "warehouse.duckdb"
    target.parent.mkdir()
    shutil.copy(published_path(built_warehouse), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="lacks ai_usage_analytics, ai_revenue_analytics, user_statements, "
                                           "run_summary: not published"):
        publish(empty, target, lambda: duckdb.connect(str(empty)))
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["warehouse.duckdb"]


def test_the_asset_waits_for_every_writer_and_reports_the_copy(built_warehouse, tmp_path):
    spec = next(iter(published_warehouse.specs))
    deps = {dep.asset_key.to_user_string() for dep in spec.deps}
    assert {"raw/gateway_requests", "raw/users", "raw/gateway_api_pull", "ai_usage_analytics", "user_statements",
            "billing_alert_notifications", "catalog_price_changes"} <= deps
    assert "finance_exports" not in deps and "spending_report" not in deps  # they do not write the warehouse
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    result = dg.materialize([published_warehouse], resources=resources_for(tmp_path))
    assert result.success
    metadata = result.asset_materializations_for_node("published_warehouse")[0].metadata
    assert metadata["path"].value == str(tmp_path / "published" / "warehouse.duckdb")
    assert metadata["requests"].value == 10
    assert metadata["size_bytes"].value == (tmp_path / "published" / "warehouse.duckdb").stat().st_size
