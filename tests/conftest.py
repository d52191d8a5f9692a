"""Shared fixtures: a data directory built from tests/fixtures and a warehouse materialized from it, once."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.definitions import ALL_ASSET_CHECKS, ALL_ASSETS
from dagster_project.defs.automation.schedules import partition_range_tags
from dagster_project.defs.resources import warehouse_resources
from dagster_project.project import dbt_executable, dbt_project

FIXTURES = Path(__file__).parent / "fixtures"


def write_fixture_data(data_dir: Path) -> Path:
    """Copy the hand-made fixture into `data_dir` (the second day gzipped); return data_dir."""
    gateway = data_dir / "raw" / "gateway"
    gateway.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "gateway" / "2026-11-20.jsonl", gateway / "2026-11-20.jsonl")
    (gateway / "2026-11-21.jsonl.gz").write_bytes(
        gzip.compress((FIXTURES / "gateway" / "2026-11-21.jsonl").read_bytes(), mtime=0)
    )
    shutil.copy(FIXTURES / "users.csv", data_dir / "raw" / "users.csv")
    return data_dir


def resources_for(data_dir: Path) -> dict:
    """The code location's resources (defs/resources.py) on `data_dir`, the environment read now (so a test's
    monkeypatched variables count)."""
    return warehouse_resources(data_dir)


def copy_dbt_project(folder: Path) -> Path:
    """A copy of dbt_project, `folder`/dbt_project (without its target, logs and packages), that a test may edit."""
    copy = folder / "dbt_project"
    shutil.copytree(Path(dbt_project.project_dir), copy,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


def run_dbt(project: Path, data_dir: Path, *args: str, timeout: float | None = None) -> None:
    """`dbt <args>` in the dbt project folder `project` on the warehouse of data_dir; it must succeed (else dbt's
    output is the assertion's message)."""
    done = subprocess.run([dbt_executable(), *args, "--profiles-dir", ".", "--quiet"], cwd=project,
                          env={**os.environ, "AI_USAGE_DATA_DIR": str(data_dir)}, capture_output=True, text=True,
                          check=False, timeout=timeout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def dbt_test(data_dir: Path, *select: str, returncode: int = 1, extra: tuple[str, ...] = ()) -> list[dict]:
    """`dbt test --select ...` (and `extra` arguments) on the warehouse in data_dir, which must exit with
    `returncode` (1: some test fails); the results of its run_results.json."""
    project_dir = str(Path(dbt_project.project_dir))
    result = subprocess.run(
        [
            dbt_executable(), "test", "--project-dir", project_dir, "--profiles-dir", project_dir,
            "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs"), "--select", *select,
            *extra,
        ],
        env={**os.environ, "AI_USAGE_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == returncode, result.stdout[-3000:]
    return json.loads((data_dir / "target" / "run_results.json").read_text())["results"]


def compiled_test(data_dir: Path, name: str) -> str:
    """The SQL dbt compiled for the data test `name` in the last dbt_test on data_dir."""
    return next((data_dir / "target" / "compiled").rglob(f"{name}.sql")).read_text()


FIXTURE_DAYS = (date(2026, 11, 20), date(2026, 11, 21))


def materialize_all(
    data_dir: Path, *, days: tuple[date, date] = FIXTURE_DAYS, run_config: dict | None = None, **kwargs
) -> dg.ExecuteInProcessResult:
    """Materialize every asset of the code location in-process against `data_dir`, for the daily partitions
    days[0]..days[1] in one run (as `make run` does)."""
    return dg.materialize(
        [*ALL_ASSETS, *ALL_ASSET_CHECKS],
        resources=resources_for(data_dir),
        run_config=run_config,
        tags=partition_range_tags(*days),
        **kwargs,
    )


# Settings from a developer's shell must not reach the tests: no real gateway pull, no real webhook.
OUTSIDE_SETTINGS = ("AI_GATEWAY_BASE_URL", "AI_GATEWAY_ACCOUNT_ID", "AI_GATEWAY_ID", "AI_GATEWAY_API_TOKEN",
                    "AI_USAGE_ALERT_WEBHOOK_URL", "AI_USAGE_PRICE_LIST_URL", "AI_USAGE_DATA_DIR")


@pytest.fixture(scope="session", autouse=True)
def _no_outside_settings():
    saved = {name: os.environ.pop(name) for name in OUTSIDE_SETTINGS if name in os.environ}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory) -> Path:
    """The fixture data, materialized end to end once per test session. Treat it as read-only."""
    data_dir = write_fixture_data(tmp_path_factory.mktemp("warehouse"))
    result = materialize_all(data_dir)
    assert result.success
    return data_dir


@pytest.fixture(scope="module")
def con(built_warehouse: Path):
    """A read-only connection to the shared warehouse built from the fixture."""
    with duckdb.connect(str(built_warehouse / "warehouse.duckdb"), read_only=True) as connection:
        yield connection
