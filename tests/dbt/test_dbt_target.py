"""One setting chooses the dbt target (issue 13 item 1): `AI_USAGE_DBT_TARGET`, read by the profile, so the dbt CLI
and Dagster's dbt resource (which runs dbt with the process environment) both honour it. This environment has no
Spark adapter (that lives in .venv-spark, `make test-spark`): pointed at `spark`, the project's own dbt resource
fails on exactly that, which shows it read the setting; by default it uses DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.project import WarehouseDbtResource, dbt_executable, dbt_project


def _ls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, target: str | None):
    monkeypatch.setenv("AI_USAGE_DATA_DIR", str(tmp_path))
    if target is None:
        monkeypatch.delenv("AI_USAGE_DBT_TARGET", raising=False)
    else:
        monkeypatch.setenv("AI_USAGE_DBT_TARGET", target)
    dbt = WarehouseDbtResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    invocation = dbt.cli(["ls", "--select", "users", "--resource-type", "model", "--target-path",
                          str(tmp_path / "target")], raise_on_error=False)
    text = "".join(str(event.raw_event) for event in invocation.stream_raw_events())
    return invocation.is_successful(), text


def test_the_dagster_dbt_resource_uses_duckdb_by_default(monkeypatch, tmp_path):
    ok, text = _ls(monkeypatch, tmp_path, None)
    assert ok, text[-2000:]
    assert "ai_usage_warehouse.marts.billing.users" in text


def test_the_dagster_dbt_resource_honours_ai_usage_dbt_target(monkeypatch, tmp_path):
    ok, text = _ls(monkeypatch, tmp_path, "spark")
    assert not ok
    assert "Could not find adapter type spark" in text, text[-2000:]
