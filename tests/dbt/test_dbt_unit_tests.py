"""dbt's unit tests (the `unit_tests:` next to the models) run here, in CI: production runs exclude them
(`--exclude-resource-type unit_test` in dagster_project/settings.py), since they check the SQL, not the data."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from dagster_project.project import dbt_executable, dbt_project
from dagster_project.settings import DBT_PRODUCTION_EXCLUDES as PRODUCTION_EXCLUDES


def test_production_builds_leave_the_unit_tests_to_ci():
    assert PRODUCTION_EXCLUDES == ["--exclude-resource-type", "unit_test"]


def test_every_dbt_unit_test_passes(built_warehouse: Path, tmp_path: Path):
    # unit tests read the column types of the models they mock from the warehouse: a copy of the built one
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    manifest = json.loads((Path(dbt_project.manifest_path)).read_text())
    unit_tests = [node for node in manifest.get("unit_tests", {}).values()]
    assert len(unit_tests) >= 15
    env = {**os.environ, "AI_USAGE_DATA_DIR": str(tmp_path), "DBT_TARGET_PATH": str(tmp_path / "target"),
           "DBT_LOG_PATH": str(tmp_path / "logs")}
    done = subprocess.run(
        [dbt_executable(), "test", "--select", "test_type:unit", "--profiles-dir", "."],
        cwd=dbt_project.project_dir, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    totals = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", done.stdout)
    assert totals, done.stdout[-2000:]
    # every unit test passed, and the on-run-start hook that checks the pricing vars (dbt counts it as one PASS)
    assert tuple(int(n) for n in totals.groups()) == (len(unit_tests) + 1, 0, 0, 0)
