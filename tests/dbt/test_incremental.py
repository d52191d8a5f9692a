"""Incremental building gives the same marts as a full refresh, whatever the order the data arrives in.

Warehouse A is built the way the daily partitions build it: day 1, then day 2, then a late request for day 1 that
changes a user's trial on day 2 (the sensor re-materializes day 1), then the catalog learns a model that was held
back, then the same day again. Warehouse B gets everything at once with `--full-refresh`. Every mart must be equal,
row for row, to the last decimal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from dagster_project.project import dbt_executable
from ingest.warehouse import connect, load_gateway_files, load_users
from tests.conftest import copy_dbt_project, run_dbt, write_fixture_data

ROOT = Path(__file__).resolve().parents[2]
# The same request id as nothing else; usr_t95 uses 1,000 more trial tokens late on day 1, so on day 2 g08 gets
# 4,000 trial tokens instead of 5,000.
LATE_LINE = {"id": "late-1", "created_at": "2026-11-20T23:00:00Z", "user_id": "usr_t95",
             "model": "anthropic/claude-3.5-sonnet", "status_code": 200, "native_tokens_prompt": 1000,
             "native_tokens_completion": 0}
MYSTERY_PRICE = "acme/mystery-model,acme,Mystery,speed,any,,,,,1.000000,2.000000,,,,,2024-01-01,,override,,test\n"
MARTS = {
    "ai_usage_analytics": "request_id",
    "user_ai_usage_summary": "user_id, date",
    "ai_revenue_analytics": "date",
    "model_popularity": "model",
    "unpriced_requests": "request_id",
}
VOLATILE = {"updated_at", "priced_at", "costed_at", "loaded_at"}  # when a row was landed or written
# the incremental tables behind the billing alerts (each increment reads only the months or users that changed)
ALERTS = {
    "int_billing_quota_crossings": "alert_key",
    "int_billing_trial_ends": "user_id",
    "billing_alerts": "alert_key",
}


@pytest.fixture(scope="module")
def dbt_copy(tmp_path_factory) -> Path:
    """A copy of the dbt project whose catalog seed the test may change."""
    return copy_dbt_project(tmp_path_factory.mktemp("dbt"))


def _window(day: str, days: int = 1) -> str:
    from datetime import date, timedelta

    start = date.fromisoformat(day)
    end = start + timedelta(days=days)
    return json.dumps({"partition_start": f"{start}T00:00:00", "partition_end": f"{end}T00:00:00"})


def _land(data_dir: Path, *names: str) -> None:
    with connect(data_dir / "warehouse.duckdb") as con:
        load_gateway_files(con, data_dir, load_id="test", files=[data_dir / "raw" / "gateway" / n for n in names])
        load_users(con, data_dir, load_id="test")


DAY1, DAY2, LATE = "2026-11-20.jsonl", "2026-11-21.jsonl.gz", "late.jsonl"


def place_files(data_dir: Path, extra: dict[str, list[dict]] | None = None) -> None:
    """The fixture's files plus, by default, the late request; `extra` adds files {name: lines} and lands all."""
    write_fixture_data(data_dir)
    (data_dir / "raw" / "gateway" / LATE).write_text(json.dumps(LATE_LINE) + "\n")
    if extra is not None:
        for name, lines in extra.items():
            (data_dir / "raw" / "gateway" / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
        _land(data_dir, DAY1, DAY2, LATE, *extra)


def _snapshot(data_dir: Path, tables: dict[str, str] = MARTS) -> dict[str, list[tuple]]:
    """Every row of `tables` ({table: order by}), without the columns that record when a row was written."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        snapshot = {}
        for mart, order in tables.items():
            found = con.execute(
                "select table_schema, column_name from information_schema.columns where table_name = ? "
                "order by ordinal_position", [mart]).fetchall()
            columns = [c for _, c in found if c not in VOLATILE]
            snapshot[mart] = con.execute(
                f"select {', '.join(columns)} from {found[0][0]}.{mart} order by {order}").fetchall()
        return snapshot


@pytest.mark.slow
def test_incremental_runs_equal_a_full_refresh(tmp_path, dbt_copy):
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    for data_dir in (incremental, full):
        place_files(data_dir)

    # A: day by day, as the partitions and the sensor would
    _land(incremental, DAY1)
    run_dbt(dbt_copy, incremental, "seed")
    run_dbt(dbt_copy, incremental, "run", "--vars", _window("2026-11-20"))
    _land(incremental, DAY2)
    run_dbt(dbt_copy, incremental, "run", "--select", "tag:daily+", "--vars", _window("2026-11-21"))
    before_late = _snapshot(incremental)
    g08 = next(row for row in before_late["ai_usage_analytics"] if row[0] == "g08")
    _land(incremental, LATE)  # a late request for day 1
    run_dbt(dbt_copy, incremental, "run", "--select", "tag:daily+", "--vars", _window("2026-11-20"))
    after_late = _snapshot(incremental)
    assert after_late["ai_usage_analytics"] != before_late["ai_usage_analytics"]
    assert [row[0] for row in after_late["unpriced_requests"]] == ["g06"]

    # the catalog learns the held-back model: the next run prices it, with no window at all
    with (dbt_copy / "seeds" / "model_prices.csv").open("a") as seed:
        seed.write(MYSTERY_PRICE)
    run_dbt(dbt_copy, incremental, "seed")
    run_dbt(dbt_copy, incremental, "run")
    # re-materializing days already built changes nothing
    run_dbt(dbt_copy, incremental, "run", "--select", "tag:daily+", "--vars", _window("2026-11-20", 2))
    result = _snapshot(incremental)
    alerts = _snapshot(incremental, ALERTS)

    # B: everything at once, from scratch
    _land(full, DAY1, DAY2, LATE)
    run_dbt(dbt_copy, full, "seed")
    run_dbt(dbt_copy, full, "run", "--full-refresh")
    expected = _snapshot(full)

    assert result == expected
    assert alerts == _snapshot(full, ALERTS)
    assert [row[0] for row in alerts["billing_alerts"] if row[0].endswith("pct")] != []  # quota crossings to compare
    rows = {row[0]: row for row in result["ai_usage_analytics"]}
    assert "g06" in rows and result["unpriced_requests"] == []
    assert g08 != rows["g08"]  # the late request changed g08's trial share on the next day
    with duckdb.connect(str(full / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select trial_tokens, user_charge_usd::varchar from ai_usage_analytics where request_id = 'g08'"
        ).fetchone() == (4000, "0.092045454545")


def _lines(day: str, count: int, prefix: str = "p") -> list[dict]:
    """`count` priced requests of usr_t95 (whose trial runs across the days) and usr_az on `day`, hours apart."""
    return [{"id": f"{prefix}-{day}-{n}", "created_at": f"{day}T{8 + n:02d}:30:00Z",
             "user_id": ("usr_t95", "usr_az")[n % 2], "model": "anthropic/claude-3.5-sonnet", "status_code": 200,
             "native_tokens_prompt": 20000 + n, "native_tokens_completion": 700} for n in range(count)]


# the per-request tables a build writes in pieces of created_at (macros/created_at_ranges.sql), and the marts
PIECED = {**MARTS, "int_requests_priced": "request_id", "int_requests_charged": "request_id"}


def _compiled(project: Path, model: str) -> str:
    return next((project / "target" / "compiled").rglob(f"{model}.sql")).read_text()


@pytest.mark.slow
def test_a_build_in_pieces_of_created_at_equals_a_build_in_one(tmp_path):
    """A full build whose per-request queries run once per range of days (at most created_at_range_rows rows each,
    whole days packed in order) writes the same rows as one query over everything, and so does the next day's
    incremental run; the ranges are the ones the data asks for."""
    dbt_copy = copy_dbt_project(tmp_path)  # the project's own catalog (the module's copy may have learnt a model)
    extra = {"more.jsonl": _lines("2026-11-18", 3) + _lines("2026-11-19", 3) + _lines("2026-11-22", 3)}
    one, pieces = tmp_path / "one", tmp_path / "pieces"
    for data_dir in (one, pieces):
        place_files(data_dir, extra)
        run_dbt(dbt_copy, data_dir, "seed")
    run_dbt(dbt_copy, one, "run", "--full-refresh")
    assert "created_at_range_2" not in _compiled(dbt_copy, "ai_usage_analytics")  # the default: one piece
    run_dbt(dbt_copy, pieces, "run", "--full-refresh", "--vars", json.dumps({"created_at_range_rows": 6}))

    # rows kept for billing per day: 3 (11-18) + 3 (11-19) fit in 6; 11-20 (7), 11-21 (4), 11-22 (3) each start one
    compiled = _compiled(dbt_copy, "ai_usage_analytics")
    assert compiled.count("as created_at_range_") == 4
    day = "cast('2026-11-{}' as timestamp)".format
    for condition in (f"(created_at < {day(20)})", f"(created_at >= {day(20)} and created_at < {day(21)})",
                      f"(created_at >= {day(21)} and created_at < {day(22)})", f"(created_at >= {day(22)})"):
        assert compiled.count(condition) == 2, condition  # both sides of the join
    # every landed request per day (held back and failed ones too): the same four pieces
    assert _compiled(dbt_copy, "int_requests_priced").count("as created_at_range_") == 4
    expected = _snapshot(one, PIECED)
    assert _snapshot(pieces, PIECED) == expected
    assert len(expected["ai_usage_analytics"]) == 20

    # the next day, incremental: its 3 rows are one piece, the query as it was
    for data_dir in (one, pieces):
        (data_dir / "raw" / "gateway" / "next.jsonl").write_text(
            "".join(json.dumps(line) + "\n" for line in _lines("2026-11-23", 3)))
        _land(data_dir, "next.jsonl")
    run_dbt(dbt_copy, one, "run")
    run_dbt(dbt_copy, pieces, "run", "--vars", json.dumps({"created_at_range_rows": 6}))
    assert "created_at_range_2" not in _compiled(dbt_copy, "ai_usage_analytics")
    assert "created_at_range_2" not in _compiled(dbt_copy, "int_requests_priced")
    result = _snapshot(pieces, PIECED)
    assert result == _snapshot(one, PIECED)
    assert len(result["ai_usage_analytics"]) == 23


def test_request_ids_are_stored_uncompressed_in_the_per_request_tables(built_warehouse: Path):
    """The per-request tables declare request_id `using compression uncompressed` (meta uncompressed_columns,
    macros/uncompressed_columns.sql), with the types a plain `create table as` gives and, where the model has a
    contract, its constraints; the other columns keep DuckDB's choice."""
    with duckdb.connect(str(built_warehouse / "warehouse.duckdb"), read_only=True) as con:
        ddl = dict(con.execute(
            "select schema_name || '.' || table_name, sql from duckdb_tables() where table_name in "
            "('int_requests_priced', 'int_requests_trial_applied', 'ai_usage_analytics', 'unpriced_requests')"
        ).fetchall())
    stored_as_is = "(request_id VARCHAR USING COMPRESSION Uncompressed"
    assert f"{stored_as_is}, user_id VARCHAR," in ddl["intermediate.int_requests_priced"]
    assert f"{stored_as_is}, user_id VARCHAR," in ddl["intermediate.int_requests_trial_applied"]
    assert f"{stored_as_is} NOT NULL, user_id VARCHAR," in ddl["main.ai_usage_analytics"]
    assert "provider_cost_usd DECIMAL(38,12)," in ddl["main.ai_usage_analytics"]
    assert "COMPRESSION" not in ddl["main.unpriced_requests"]
    assert sum(sql.count("COMPRESSION") for sql in ddl.values()) == 3


def test_a_warehouse_built_by_an_older_version_stops_with_what_to_do(built_warehouse: Path, tmp_path: Path):
    """An upgrade that changes a stored incremental table's columns: the run stops before any SQL of that model,
    naming the table, the column and the full refresh that rebuilds it (not a binder error); the full refresh then
    rebuilds the table with the column."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("alter table intermediate.int_requests_trial_applied drop column costed_at")
    command = [dbt_executable(), "build", "--profiles-dir", ".", "--target-path", str(tmp_path / "target"),
               "--log-path", str(tmp_path / "logs"), "--select", "int_requests_trial_applied",
               "--exclude-resource-type", "unit_test"]
    env = {**os.environ, "AI_USAGE_DATA_DIR": str(tmp_path)}
    old = subprocess.run(command, cwd=ROOT / "dbt_project", env=env, capture_output=True, text=True, check=False)
    assert old.returncode == 1, old.stdout[-3000:]
    assert ('"warehouse"."intermediate"."int_requests_trial_applied" has no column costed_at: the warehouse was '
            "built by an older version of this project") in old.stdout
    assert "dbt build --profiles-dir . --full-refresh" in old.stdout
    assert "Binder Error" not in old.stdout
    rebuilt = subprocess.run([*command, "--full-refresh"], cwd=ROOT / "dbt_project", env=env, capture_output=True,
                             text=True, check=False)
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select count(*), count(costed_at) from intermediate.int_requests_trial_applied"
        ).fetchone() == con.execute("select count(*), count(*) from intermediate.int_requests_priced").fetchone()


def _request(request_id: str, created_at: str, user_id: str, prompt: int) -> dict:
    return {"id": request_id, "created_at": created_at, "user_id": user_id, "model": "anthropic/claude-3.5-sonnet",
            "status_code": 200, "native_tokens_prompt": prompt, "native_tokens_completion": 0}


# Users new to the fixture, one more day at a time: usr_n1's trial starts after a 0-token request charged the minimum
# and ends on the second day, in the same month; usr_n2's ends on 2026-11-02, the next month; usr_n3's lasts.
GOING_ON = {
    "a.jsonl": [_request("n1-0", "2026-10-30T08:00:00Z", "usr_n1", 0),
                _request("n1-1", "2026-10-30T09:00:00Z", "usr_n1", 60000),
                _request("n2-1", "2026-10-30T09:00:00Z", "usr_n2", 90000),
                _request("n3-1", "2026-10-30T09:00:00Z", "usr_n3", 1000)],
    "b.jsonl": [_request("n1-2", "2026-10-31T08:00:00Z", "usr_n1", 30000),
                _request("n1-3", "2026-10-31T09:00:00Z", "usr_n1", 30000),
                _request("n1-4", "2026-10-31T10:00:00Z", "usr_n1", 5000),
                _request("n3-2", "2026-10-31T09:00:00Z", "usr_n3", 2000)],
    "c.jsonl": [_request("n2-2", "2026-11-02T08:00:00Z", "usr_n2", 20000),
                _request("n3-3", "2026-11-02T09:00:00Z", "usr_n3", 3000)],
}


@pytest.mark.slow
@pytest.mark.parametrize("stored_before_the_totals", [False, True])
def test_trial_ends_going_on_from_the_stored_totals_equal_a_full_refresh(tmp_path, stored_before_the_totals):
    """One more day at a time (a.jsonl, then b.jsonl, then c.jsonl, each after a build): int_billing_trial_ends goes
    on from each user's stored totals, reading the new requests alone (no user is computed again from all of their
    requests), and ends, trial tokens, month spends and the stored totals equal a full refresh's. A table stored
    before it kept the totals (an upgrade: the columns dropped after the first build) is computed from all of every
    user's requests once, the columns added, and gives the same."""
    project = copy_dbt_project(tmp_path)
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    write_fixture_data(incremental)
    for name, lines in GOING_ON.items():
        (incremental / "raw" / "gateway" / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
    _land(incremental, DAY1, DAY2, "a.jsonl")
    run_dbt(project, incremental, "seed")
    run_dbt(project, incremental, "run")
    if stored_before_the_totals:
        with duckdb.connect(str(incremental / "warehouse.duckdb")) as con:
            for column in ("trial_tokens_so_far", "last_billed_at", "month_spend_so_far"):
                con.execute(f"alter table intermediate.int_billing_trial_ends drop column {column}")
    for name in ("b.jsonl", "c.jsonl"):
        _land(incremental, name)
        run_dbt(project, incremental, "run")
        going_on_alone = "(no user is computed again from all of their requests)" in _compiled(
            project, "int_billing_trial_ends")
        # the first run after the upgrade computes every user from all of their requests, once
        assert going_on_alone == (not stored_before_the_totals or name == "c.jsonl")
    result = _snapshot(incremental, ALERTS)
    full.mkdir()
    shutil.copyfile(incremental / "warehouse.duckdb", full / "warehouse.duckdb")
    run_dbt(project, full, "run", "--full-refresh")
    assert result == _snapshot(full, ALERTS)
    with duckdb.connect(str(incremental / "warehouse.duckdb"), read_only=True) as con:
        ends = con.execute(
            "select user_id, request_id, used_tokens, month_start_date::varchar, coalesce(used_spend_usd > 0, false),"
            " trial_tokens_so_far, last_billed_at::varchar from intermediate.int_billing_trial_ends"
            " where user_id in ('usr_n1', 'usr_n2', 'usr_n3') order by user_id").fetchall()
        spends = con.execute(
            "select user_id, sum(user_charge_usd) from ai_usage_analytics where user_id in ('usr_n1', 'usr_n2')"
            " and request_id not in ('n1-4') group by user_id order by user_id").fetchall()
        used = con.execute("select user_id, used_spend_usd from intermediate.int_billing_trial_ends where user_id in"
                           " ('usr_n1', 'usr_n2') order by user_id").fetchall()
    assert ends == [("usr_n1", "n1-3", 100000, "2026-10-01", True, None, None),
                    ("usr_n2", "n2-2", 100000, "2026-11-01", True, None, None),
                    ("usr_n3", None, None, None, False, 6000, "2026-11-02 09:00:00")]
    # the month's spend up to the end: usr_n1's with n1-0's minimum charge (the stored month's spend went on),
    # usr_n2's of November alone
    assert used == spends and used[0][1] > 0
