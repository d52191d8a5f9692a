"""The dbt project as Dagster sees it. `dagster dev` re-parses it on load; elsewhere `make` runs `dbt parse`."""

from __future__ import annotations

import shutil
import sys
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from ingest.settings import PROJECT_ROOT


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


class WarehouseDbtResource(DbtCliResource):
    """dagster-dbt's `DbtCliResource` without two start-up costs of each step that runs dbt, neither of which this
    project uses: a `dbt --version` subprocess (about 4 CPU s: dbt-core is installed in this environment, so its
    version is read from the package metadata) and a dbt adapter opened in the Dagster process (it parses the
    macros; dagster-dbt uses it only to fetch row counts and column metadata, which our assets do not ask for)."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None
