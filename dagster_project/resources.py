"""Resources: where the data lives. Read at run time from the environment (or run config), never at import."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pydantic

from ingest.gateway_api import GatewayLogsClient, GatewaySettings, RetryPolicy
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


# Each GatewayApiResource field left empty is read from its environment variable when a run starts.
GATEWAY_ENV = {
    "base_url": "AI_GATEWAY_BASE_URL",
    "account_id": "AI_GATEWAY_ACCOUNT_ID",
    "gateway_id": "AI_GATEWAY_ID",
    "api_token": "AI_GATEWAY_API_TOKEN",
}


class GatewayApiResource(dg.ConfigurableResource):
    """The AI gateway's logs API. Leave a field empty to read it at run time from its environment variable:
    AI_GATEWAY_BASE_URL, AI_GATEWAY_ACCOUNT_ID, AI_GATEWAY_ID, AI_GATEWAY_API_TOKEN.

    Keep the token in the environment: a token typed into run config is stored with the run. It is never logged,
    never part of an error, and hidden from this resource's repr.
    """

    base_url: str = ""
    account_id: str = ""
    gateway_id: str = ""
    api_token: str = pydantic.Field(default="", repr=False)
    per_page: int = 50
    timeout_seconds: float = 30.0
    max_attempts: int = 5

    def settings(self) -> GatewaySettings:
        values = {name: (getattr(self, name) or os.environ.get(env, "")).strip() for name, env in GATEWAY_ENV.items()}
        return GatewaySettings(**values)

    def missing_env(self) -> list[str]:
        """The environment variables still needed (empty list: ready; all four: the pull is not configured)."""
        settings = self.settings()
        return [GATEWAY_ENV[name] for name in settings.missing()]

    def client(self, **kwargs) -> GatewayLogsClient:
        return GatewayLogsClient(
            self.settings(),
            per_page=self.per_page,
            timeout=httpx.Timeout(self.timeout_seconds, connect=min(10.0, self.timeout_seconds)),
            retry=RetryPolicy(max_attempts=self.max_attempts),
            **kwargs,
        )
