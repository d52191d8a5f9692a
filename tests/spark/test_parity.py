"""The same dbt project on Spark and on DuckDB gives the same marts, row for row, to the last decimal.

Run by `make test-spark` in its own virtual environment (.venv-spark: pyspark, dbt-spark[session]); the landing and
the DuckDB build run with the project's .venv (as `make run` does). The fixture of tests/fixtures (both days) is landed
once; its Parquet mirror (ingest/raw_parquet.py) is what the Spark target reads. Then:

- every mart (each relation of the schema `main`: tables and views) is equal on both engines: same columns, same
  rows (sorted), each value equal as Python values (Decimal for money: decimal(38, 12) on both sides, so equal to
  the 12th decimal), except the columns stamped with the build's time;
- dbt's unit tests pass on Spark too;
- a daily re-run on Spark (day 1 landed and built, then day 2 landed and built again) equals the full build.
"""

from __future__ import annotations

import gzip
import os
import pickle
import re
import shutil
import subprocess
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark", reason="the Spark tests run with `make test-spark` (.venv-spark)")
duckdb = pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
DUCKDB_DBT = ROOT / ".venv" / "bin" / "dbt"
SPARK_DBT = Path(os.sys.executable).parent / "dbt"
# stamped with the time of the build (or a fingerprint of the engine's text of a row): not data
VOLATILE = {"updated_at", "priced_at", "costed_at", "catalog_fingerprint", "as_of_at"}
TIMEOUT = 900  # seconds, a safety limit for one dbt invocation on a busy machine


def _place(data_dir: Path, *days: str) -> None:
    gateway = data_dir / "raw" / "gateway"
    gateway.mkdir(parents=True, exist_ok=True)
    if "2026-11-20" in days:
        shutil.copy(FIXTURES / "gateway" / "2026-11-20.jsonl", gateway / "2026-11-20.jsonl")
    if "2026-11-21" in days:
        (gateway / "2026-11-21.jsonl.gz").write_bytes(
            gzip.compress((FIXTURES / "gateway" / "2026-11-21.jsonl").read_bytes(), mtime=0))
    shutil.copy(FIXTURES / "users.csv", data_dir / "raw" / "users.csv")


def _land(data_dir: Path) -> None:
    """Land every file of the drop zone and the users export (the ingest of `make run`, without Dagster)."""
    code = ("import sys; from pathlib import Path; "
            "from ingest.warehouse import connect, load_gateway_files, load_users; "
            "d = Path(sys.argv[1]); con = connect(d / 'warehouse.duckdb'); "
            "load_gateway_files(con, d, load_id='spark-test'); load_users(con, d, load_id='spark-test'); con.close()")
    done = subprocess.run([str(PROJECT_PYTHON), "-c", code, str(data_dir)], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(ROOT), "AI_USAGE_RAW_PARQUET": "1"})
    assert done.returncode == 0, done.stderr[-3000:]


def _dbt(dbt: Path, target: str, data_dir: Path, *args: str) -> str:
    env = {**os.environ, "AI_USAGE_DBT_TARGET": target, "AI_USAGE_DATA_DIR": str(data_dir),
           "DBT_TARGET_PATH": str(data_dir / f"dbt-target-{target}"), "DBT_LOG_PATH": str(data_dir / "dbt-logs"),
           "TZ": "UTC"}
    done = subprocess.run([str(dbt), *args, "--profiles-dir", "."], cwd=ROOT / "dbt_project", env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    summary = re.findall(r"^.*(?:ERROR|FAIL|Error|Done\.).*$", done.stdout, flags=re.MULTILINE)
    assert done.returncode == 0, "\n".join(line[:500] for line in summary[-40:])
    return done.stdout


def _spark_build(data_dir: Path, *args: str) -> str:
    return _dbt(SPARK_DBT, "spark", data_dir, "build", "--exclude-resource-type", "unit_test", *args)


@pytest.fixture(scope="module")
def both_built(tmp_path_factory) -> Path:
    """The fixture landed once, built on DuckDB (dev) and on Spark (spark) in the same data dir."""
    data_dir = tmp_path_factory.mktemp("parity")
    _place(data_dir, "2026-11-20", "2026-11-21")
    _land(data_dir)
    _dbt(DUCKDB_DBT, "dev", data_dir, "build", "--exclude-resource-type", "unit_test")
    _spark_build(data_dir)
    return data_dir


def _sort_key(row: tuple) -> tuple:
    return tuple((value is None, str(value)) for value in row)


def _duckdb_marts(data_dir: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    marts = {}
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        names = [row[0] for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]
        for name in names:
            cursor = con.execute(f"select * from main.{name}")
            columns = [column[0] for column in cursor.description]
            marts[name] = (columns, cursor.fetchall())
    return marts


def _spark_marts(data_dir: Path, names) -> dict[str, tuple[list[str], list[tuple]]]:
    """The relations `names` of the Spark warehouse, read by tests/spark/spark_marts.py in its own process."""
    out = data_dir / "spark-marts.pickle"
    done = subprocess.run([os.sys.executable, str(Path(__file__).parent / "spark_marts.py"), str(data_dir), str(out),
                           *names], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return pickle.loads(out.read_bytes())


def _utc(value):
    """An instant (DuckDB's timestamptz: an aware datetime) as the naive UTC datetime Spark's TIMESTAMP gives."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _comparable(columns: list[str], rows: list[tuple]) -> tuple[list[str], list[tuple]]:
    keep = [i for i, column in enumerate(columns) if column not in VOLATILE]
    return [columns[i] for i in keep], sorted((tuple(_utc(row[i]) for i in keep) for row in rows), key=_sort_key)


def _assert_equal_marts(expected: dict, actual: dict) -> int:
    """Every mart of `expected` equals the one of `actual`; returns the rows compared."""
    assert sorted(actual) == sorted(expected)
    compared = 0
    for name, (columns, rows) in expected.items():
        want_columns, want = _comparable(columns, rows)
        got_columns, got = _comparable(*actual[name])
        assert got_columns == want_columns, name
        assert len(got) == len(want), f"{name}: {len(got)} rows on Spark, {len(want)} on DuckDB"
        for want_row, got_row in zip(want, got, strict=True):
            for column, a, b in zip(want_columns, want_row, got_row, strict=True):
                assert type(a) is type(b) and a == b, f"{name}.{column}: DuckDB {a!r}, Spark {b!r}\n{want_row}"
                if isinstance(a, Decimal):  # money: equal to the 12th decimal, not rounded on either side
                    assert a.as_tuple().exponent == b.as_tuple().exponent, f"{name}.{column}: {a!r} vs {b!r}"
        compared += len(want)
    return compared


def test_every_mart_is_equal_on_spark_and_duckdb(both_built: Path):
    expected = _duckdb_marts(both_built)
    # the marts people read, at least these, each with rows
    for name in ("ai_usage_analytics", "user_ai_usage_summary", "ai_revenue_analytics", "model_popularity",
                 "daily_revenue", "monthly_revenue", "user_statements", "billing_alerts", "run_summary",
                 "pricing_scenario_comparison", "revenue_projections_observed", "pricing_dimension_usage"):
        assert expected[name][1], f"{name} is empty on DuckDB: the comparison would prove nothing"
    actual = _spark_marts(both_built, expected)
    compared = _assert_equal_marts(expected, actual)
    assert compared == sum(len(rows) for _, rows in expected.values())
    # the fixture's exact revenue, as the DuckDB tests know it, on Spark too
    usage_columns, usage_rows = actual["ai_usage_analytics"]
    charges = [row[usage_columns.index("user_charge_usd")] for row in usage_rows]
    assert all(isinstance(charge, Decimal) for charge in charges if charge is not None)


def test_dbt_unit_tests_pass_on_spark(both_built: Path):
    output = _dbt(SPARK_DBT, "spark", both_built, "test", "--select", "test_type:unit")
    totals = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", output)
    assert totals, output[-2000:]
    passed, warned, errors, skipped = (int(n) for n in totals.groups())
    assert (warned, errors, skipped) == (0, 0, 0)
    assert passed >= 15


def test_a_daily_rerun_on_spark_equals_the_full_build(both_built: Path, tmp_path: Path):
    # day 1 landed and built; then day 2 lands and the daily run builds again (on Spark: the daily models are
    # rebuilt whole, macros/cross_engine.sql incremental_materialization)
    _place(tmp_path, "2026-11-20")
    _land(tmp_path)
    _spark_build(tmp_path, "--exclude-resource-type", "test")
    _place(tmp_path, "2026-11-20", "2026-11-21")
    _land(tmp_path)
    _spark_build(tmp_path, "--exclude-resource-type", "test")
    full = _spark_marts(both_built, _duckdb_marts(both_built))
    daily = _spark_marts(tmp_path, full)
    assert _assert_equal_marts(full, daily) > 0
