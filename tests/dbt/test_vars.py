"""Every dbt var is checked in one place (dbt_project/macros/vars.sql, the on-run-start hook): a typo in a var's name
or a bad value stops `dbt build` before any model runs, naming the var and what to do, and the warehouse is left as
it was. Real dbt invocations (subprocesses) on a copy of the end-to-end warehouse; the data directory is given as
the var data_dir, as the Dagster dbt asset gives it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.project import dbt_executable, dbt_project

DBT_DIR = Path(dbt_project.project_dir)
SAFETY_SECONDS = 300  # a bound for the test, not a target
# The vars the project reads besides dbt_project.yml's own: the data directory, the partition window and the size of
# a full build's pieces (macros/created_at_ranges.sql, default there).
RUN_TIME_VARS = ["created_at_range_rows", "data_dir", "partition_end", "partition_start"]


def dbt(data_dir: Path, *args: str, dbt_vars: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            dbt_executable(), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
            "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs"),
            "--vars", json.dumps({**dbt_vars, "data_dir": str(data_dir)}),
        ],
        capture_output=True, text=True, check=False, timeout=SAFETY_SECONDS,
    )


def tables(data_dir: Path) -> dict[str, tuple]:
    """Every table of the warehouse with its row count and a hash of its rows, and every view with its definition
    (a view's rows may follow the clock: finance_as_of reads the current time)."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        names = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_type = 'BASE TABLE' order by all"
        ).fetchall()
        stored = {name: con.execute(f"select count(*), sum(hash(t)) from {name} as t").fetchone() for (name,) in names}
        views = con.execute(
            "select schema_name || '.' || view_name, sql from duckdb_views() where not internal order by all"
        ).fetchall()
        return {**stored, **{name: (sql,) for name, sql in views}}


def valid_names() -> list[str]:
    project = yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text())
    return sorted([*project["vars"], *RUN_TIME_VARS])


def test_an_unknown_var_stops_the_build_names_it_lists_the_valid_ones_and_changes_nothing(built_warehouse, tmp_path):
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    before = tables(tmp_path)
    assert "main.ai_usage_analytics" in before and before["main.ai_usage_analytics"][0] > 0

    # markup_percent for markup_percentage: silently ignored, it would bill with the default 25%
    result = dbt(tmp_path, "build", dbt_vars={"markup_percent": 30})

    assert result.returncode == 2, result.stdout[-3000:]  # dbt's "error": the build stopped before any node
    assert (
        "unknown dbt var 'markup_percent' (--vars or the dbt asset's dbt_vars): nothing was built. Valid names: "
        + ", ".join(valid_names()) + "."
    ) in result.stdout, result.stdout[-3000:]
    assert tables(tmp_path) == before


@pytest.mark.parametrize(
    ("dbt_vars", "message"),
    [
        ({"cost_drift_tolerance": "five percent"},
         "dbt var 'cost_drift_tolerance' = five percent is not a plain non-negative number"),
        # checked at run start now, not only where a projection or the alerts compile
        ({"projection_window_days": 0}, "dbt var 'projection_window_days' = 0 must be a whole number, 1..9999"),
        ({"created_at_range_rows": "1e6"},
         "dbt var 'created_at_range_rows' = 1e6 must be a whole number, 1..999999999999"),
        ({"alert_thresholds_percent": [80, "x"]}, "dbt var 'alert_thresholds_percent' has x: each threshold"),
        ({"markup_percentage": 30, "free_trial_token": 0, "Markup_Percentage": 1},
         "unknown dbt var 'free_trial_token', 'Markup_Percentage' (--vars"),
        ({"markup_percentage": 30, "cost_drift_tolerance": 0.02, "partition_start": "2026-11-20",
          "partition_end": "2026-11-21"}, None),
    ],
)
def test_every_var_is_checked_by_the_one_validation(tmp_path: Path, dbt_vars: dict, message: str | None):
    result = dbt(tmp_path, "run-operation", "validate_vars", dbt_vars=dbt_vars)
    if message is None:
        assert result.returncode == 0, result.stdout[-3000:]
    else:
        assert result.returncode == 2 and message in result.stdout, result.stdout[-3000:]
        assert not (tmp_path / "warehouse.duckdb").exists()
