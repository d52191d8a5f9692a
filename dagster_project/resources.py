"""Resources: where the data lives. Read at run time from the environment (or run config), never at import."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb

from ingest.warehouse import connect

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "AI_USAGE_DATA_DIR"
# Every asset that writes the DuckDB file shares this pool; `.dagster_home/dagster.yaml` sets its limit to 1
# because DuckDB allows one writing process per file.
DUCKDB_WRITER_POOL = "duckdb_writer"


def default_data_dir() -> Path:
    """$AI_USAGE_DATA_DIR, or `data/` at the project root."""
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(configured).expanduser().resolve() if configured else PROJECT_ROOT / "data"


class WarehouseResource(dg.ConfigurableResource):
    """The data directory (raw drop zone, warehouse file, exports, reports).

    Leave `data_dir` empty to use $AI_USAGE_DATA_DIR or `<project>/data`.
    """

    data_dir: str = ""

    @property
    def root(self) -> Path:
        return Path(self.data_dir).expanduser().resolve() if self.data_dir else default_data_dir()

    @property
    def path(self) -> Path:
        return self.root / "warehouse.duckdb"

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return connect(self.path, read_only=read_only)
