"""The dbt project as Dagster sees it. `dagster dev` re-parses it on load; elsewhere `make` runs `dbt parse`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from dagster_project.resources import PROJECT_ROOT


def dbt_executable() -> str:
    """The `dbt` of this Python's environment (the project's venv), else the one on PATH."""
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return shutil.which("dbt") or "dbt"


dbt_project = DbtProject(
    project_dir=PROJECT_ROOT / "dbt_project",
    profiles_dir=PROJECT_ROOT / "dbt_project",
)
dbt_project.prepare_if_dev()
