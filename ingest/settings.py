"""The data directory and its paths: the one definition that ingest, Dagster (dagster_project/settings.py,
resources.py) and dbt (given `data_dir` as a dbt var by the dbt asset: dbt_project/profiles.yml) all use.

    <data dir>/raw/gateway/       the drop zone for gateway log files (ingest/files.py `gateway_dir`)
    <data dir>/raw/users.csv      the users export
    <data dir>/warehouse.duckdb   the warehouse
    <data dir>/.duckdb_tmp/       where DuckDB spills beyond its memory limit
    <data dir>/exports/           finance exports;  <data dir>/reports/  the spending report
    <data dir>/logs/              the run log of `make run` and what its last run saw

The directory is $AI_USAGE_DATA_DIR, else `data/` at the project root. Plain Python, read when called, never at
import.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "AI_USAGE_DATA_DIR"
WAREHOUSE_FILE = "warehouse.duckdb"
SPILL_DIR = ".duckdb_tmp"


def default_data_dir() -> Path:
    """$AI_USAGE_DATA_DIR (absolute), or `data/` at the project root."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else PROJECT_ROOT / "data"


def warehouse_path(data_dir: Path) -> Path:
    return Path(data_dir) / WAREHOUSE_FILE


def users_csv(data_dir: Path) -> Path:
    return Path(data_dir) / "raw" / "users.csv"


def exports_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "exports"


def reports_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "reports"


def logs_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "logs"
