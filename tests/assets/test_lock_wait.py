"""A DuckDB client left open on the warehouse (even read-only) makes a writing step wait, bounded, instead of
failing at once; when it waits too long, the error names the holder and says what to do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.definitions import ALL_ASSETS
from dagster_project.resources import (
    LOCK_WAIT_ENV,
    WarehouseLockedError,
    WarehouseResource,
    lock_wait_seconds,
    wait_for_lock,
    wait_for_write_lock,
)
from tests.conftest import resources_for

# Opens the file read-only, says so, keeps it open for argv[2] seconds. The last argument stands for a secret
# on a command line: it must never be repeated in an error.
HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""
SECRET = "--api-token=sk-do-not-print-me"


class Reader:
    """A real DuckDB reader in another process, holding `path` for `seconds` (killed on exit: bounded)."""

    def __init__(self, path: Path, seconds: float):
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), str(seconds), SECRET], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "holding"
        self.pid = self.process.pid

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def warehouse(tmp_path: Path) -> WarehouseResource:
    resource = WarehouseResource(data_dir=str(tmp_path))
    with resource.connect() as con:
        con.execute("create table main.t as select 1 as x")
    return resource


def test_a_write_connect_waits_for_a_reader_then_succeeds(warehouse: WarehouseResource):
    messages: list[str] = []
    with Reader(warehouse.path, seconds=3) as reader:
        with pytest.raises(duckdb.IOException, match="Could not set lock on file"):
            duckdb.connect(str(warehouse.path))  # the reader really holds the lock: DuckDB alone fails at once
        con = wait_for_lock(lambda: duckdb.connect(str(warehouse.path)), warehouse.path, max_wait_seconds=60,
                            log=messages.append)
        with con:
            con.execute("insert into main.t values (2)")
            assert con.execute("select sum(x) from main.t").fetchone() == (3,)
    assert messages == [
        f"{warehouse.path} is locked by another process (pid {reader.pid}, program {Path(sys.executable).name}): "
        f"waiting at most 60 s for it to let go"
    ]


def test_the_resource_waits_for_a_reader(warehouse: WarehouseResource, monkeypatch):
    monkeypatch.setenv(LOCK_WAIT_ENV, "60")
    with Reader(warehouse.path, seconds=3):
        with warehouse.connect() as con:
            con.execute("insert into main.t values (2)")
    with warehouse.connect(read_only=True) as con:
        assert con.execute("select count(*) from main.t").fetchone() == (2,)


def test_after_the_longest_wait_the_error_names_the_holder_and_what_to_do(warehouse: WarehouseResource,
                                                                          monkeypatch):
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.5")
    with Reader(warehouse.path, seconds=60) as reader:
        with pytest.raises(WarehouseLockedError) as raised:
            warehouse.connect()
        with pytest.raises(WarehouseLockedError) as raised_for_dbt:
            wait_for_write_lock(warehouse.path, log=lambda message: None)
    holder = f"pid {reader.pid}, program {Path(sys.executable).name}"
    expected = (
        f"{warehouse.path} is locked by another process ({holder}) and was still locked after 0.5 s: close the "
        f"DuckDB client ({holder}) holding {warehouse.path}, or read a copy of the file instead, then run again "
        f"(${LOCK_WAIT_ENV} sets how long a step waits)"
    )
    assert str(raised.value) == expected
    assert str(raised_for_dbt.value) == expected
    assert "sk-do-not-print-me" not in expected


def test_other_errors_are_not_waited_for(tmp_path: Path):
    calls = []

    def broken():
        calls.append(1)
        raise duckdb.IOException(f'IO Error: Cannot open file "{tmp_path}/x": Permission denied')

    with pytest.raises(duckdb.IOException, match="Permission denied"):
        wait_for_lock(broken, tmp_path / "x", max_wait_seconds=60)
    assert calls == [1]


def test_wait_for_write_lock_needs_no_file(tmp_path: Path):
    wait_for_write_lock(tmp_path / "warehouse.duckdb", max_wait_seconds=0)
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.parametrize("raw, expected", [("", 120.0), (" 45 ", 45.0), ("0", 0.0), ("2.5", 2.5)])
def test_lock_wait_seconds(monkeypatch, raw: str, expected: float):
    monkeypatch.setenv(LOCK_WAIT_ENV, raw)
    assert lock_wait_seconds() == expected


@pytest.mark.parametrize("raw", ["-1", "soon", "nan", "90000"])
def test_a_bad_lock_wait_is_refused_with_the_variable_named(monkeypatch, raw: str):
    monkeypatch.setenv(LOCK_WAIT_ENV, raw)
    with pytest.raises(ValueError) as raised:
        lock_wait_seconds()
    assert str(raised.value) == f"{LOCK_WAIT_ENV}={raw!r}: set it to a number of seconds between 0 and 86400"


def test_a_dbt_step_waits_for_a_reader_before_dbt_opens_the_file(built_warehouse: Path, tmp_path: Path,
                                                                 monkeypatch):
    """The dbt step meets a reader: it waits, then dbt builds (without the wait dbt fails on the lock)."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "120")
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    instance = dg.DagsterInstance.ephemeral()
    with Reader(tmp_path / "warehouse.duckdb", seconds=3) as reader:
        result = dg.materialize(ALL_ASSETS, selection=[dg.AssetKey(["model_catalog"])],
                                resources=resources_for(tmp_path), instance=instance, raise_on_error=False)
    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey(["model_catalog"])}
    waits = [entry.user_message for entry in instance.all_logs(result.run_id)
             if f"is locked by another process (pid {reader.pid}," in entry.user_message]
    assert len(waits) == 1
