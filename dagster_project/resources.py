"""The resource classes (where the data lives, the gateway API, the alert webhook, the public price list) and the
warehouse's lock and memory helpers. Which environment variable configures which field is decided in one place,
`dagster_project/defs/resources.py` (with `dg.EnvVar`, read when a run starts); here a field left empty means the
feature is off (the data directory: the one default of `ingest/settings.py`).

Two things here still read the environment when called, on purpose: `from_env` (a field that run config left out,
see there), and the DuckDB process settings `memory_limit()` and `lock_wait_seconds()`, which are not resource fields
because the same variables govern connections made outside any resource (dbt's profile reads
$AI_USAGE_DUCKDB_MEMORY_LIMIT; `wait_for_write_lock` guards dbt's own open)."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb
import httpx
import pydantic

from dagster_project.publish.alerts import DeliveryPolicy
from ingest.gateway_api import GatewayLogsClient, GatewaySettings, RetryPolicy
from ingest.price_list import PRICE_LIST_ENV
from ingest.settings import SPILL_DIR, default_data_dir, warehouse_path
from ingest.warehouse import connect

# Every asset that writes the DuckDB file shares this pool; `.dagster_home/dagster.yaml` sets its limit to 1
# because DuckDB allows one writing process per file.
DUCKDB_WRITER_POOL = "duckdb_writer"
# How long a step waits for another process (a DuckDB client a person left open) to let go of the warehouse file.
LOCK_WAIT_ENV = "AI_USAGE_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 120.0
# DuckDB's memory: at most this much (then it spills to the temp directory instead of failing or growing). The same
# variable sets it for dbt (dbt_project/profiles.yml). DuckDB's own default is 80% of the machine's memory.
MEMORY_LIMIT_ENV = "AI_USAGE_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1GiB"
MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class WarehouseResource(dg.ConfigurableResource):
    """The data directory (raw drop zone, warehouse file, exports, reports).

    Leave `data_dir` empty for the default of `ingest/settings.py` ($AI_USAGE_DATA_DIR or `<project>/data`).
    """

    data_dir: str = ""

    @property
    def root(self) -> Path:
        return Path(self.data_dir).expanduser().resolve() if self.data_dir else default_data_dir()

    @property
    def path(self) -> Path:
        return warehouse_path(self.root)

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection to the warehouse, its memory bounded (`duckdb_settings`); waits (bounded) while another
        process holds the file's lock."""
        settings = duckdb_settings(self.root)
        con = wait_for_lock(lambda: connect(self.path, read_only=read_only), self.path)
        try:
            for name, value in settings.items():
                # DuckDB refuses to set temp_directory again once it spilled there (a connection of this process
                # may share the database with an earlier one): set only what differs
                if con.execute("select current_setting(?)", [name]).fetchone()[0] != value:
                    con.execute(f"set {name} = '{value}'")
        except BaseException:
            con.close()
            raise
        return con


def memory_limit() -> str:
    """$AI_USAGE_DUCKDB_MEMORY_LIMIT (default 1GiB): the most memory DuckDB may use before it spills to disk."""
    raw = os.environ.get(MEMORY_LIMIT_ENV, "").strip() or DEFAULT_MEMORY_LIMIT
    if not MEMORY_LIMIT.fullmatch(raw):
        raise ValueError(f"{MEMORY_LIMIT_ENV}={raw[:40]!r}: set it to an amount of memory such as 1GiB or 512MB")
    return raw


def duckdb_settings(data_dir: Path) -> dict[str, str]:
    """The settings of every warehouse connection of the assets (dbt's are in dbt_project/profiles.yml): a memory
    limit, and a temp directory under the data directory, so that a large build spills instead of failing."""
    return {"memory_limit": memory_limit(), "temp_directory": str(data_dir / SPILL_DIR)}


Connection = TypeVar("Connection")
# DuckDB names the process holding a conflicting lock: `Conflicting lock is held in /usr/bin/duckdb (PID 1234)`.
LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


def lock_wait_seconds() -> float:
    """$AI_USAGE_LOCK_WAIT_SECONDS (default 120): how long opening the warehouse waits for a lock held elsewhere."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_WAIT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86_400:
        raise ValueError(f"{LOCK_WAIT_ENV}={raw!r}: set it to a number of seconds between 0 and 86400")
    return seconds


def is_lock_conflict(error: Exception) -> bool:
    return isinstance(error, duckdb.IOException) and "Could not set lock on file" in str(error)


def lock_holder(error: Exception) -> str:
    """`pid 1234, program duckdb` from DuckDB's lock error: the program is the name the process was started
    with (never its arguments, which may hold secrets), else the executable DuckDB names."""
    match = LOCK_HOLDER.search(str(error))
    if not match:
        return "another process"
    pid = match["pid"]
    program = Path(match["program"]).name
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
        program = Path(argv0).name or program
    except OSError:
        pass
    return f"pid {pid}, program {program[:64]}"


def wait_for_lock(
    open_connection: Callable[[], Connection],
    path: Path,
    *,
    max_wait_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
) -> Connection:
    """`open_connection()`, retried with backoff (0.1 s doubling to 5 s) while another process holds the lock on
    the DuckDB file `path`, for at most `max_wait_seconds` ($AI_USAGE_LOCK_WAIT_SECONDS, default 120). Then
    raises an error that names the holder and what to do. Other errors are raised at once."""
    max_wait = lock_wait_seconds() if max_wait_seconds is None else max_wait_seconds
    log = log or dg.get_dagster_logger().warning
    deadline = time.monotonic() + max_wait
    delay, announced = 0.1, 0.0
    started = time.monotonic()
    while True:
        try:
            return open_connection()
        except duckdb.Error as error:
            if not is_lock_conflict(error):
                raise
            now = time.monotonic()
            if now >= deadline:
                holder = lock_holder(error)
                raise WarehouseLockedError(
                    f"{path} is locked by another process ({holder}) and was still locked after "
                    f"{max_wait:g} s: close the DuckDB client ({holder}) holding {path}, or read a copy of the "
                    f"file instead, then run again (${LOCK_WAIT_ENV} sets how long a step waits)"
                ) from error
            if not announced:
                log(f"{path} is locked by another process ({lock_holder(error)}): waiting at most {max_wait:g} s "
                    "for it to let go")
                announced = now
            elif now - announced >= 30:
                log(f"{path} is still locked ({lock_holder(error)}) after {now - started:.0f} s")
                announced = now
            time.sleep(min(delay, max(deadline - now, 0.0)))
            delay = min(delay * 2, 5.0)


def wait_for_write_lock(path: Path, *, max_wait_seconds: float | None = None,
                        log: Callable[[str], None] | None = None) -> None:
    """Return once a writer can open the DuckDB file `path` (a write connection opened and closed), waiting as
    `wait_for_lock` does. For a step whose writer is another process (dbt): the file may be taken again between
    this check and that process's own open."""
    if not path.exists():
        return  # nothing holds a file that is not there; the writer creates it
    wait_for_lock(lambda: duckdb.connect(str(path)), path, max_wait_seconds=max_wait_seconds, log=log).close()


class WarehouseLockedError(RuntimeError):
    """The warehouse file stayed locked by another process for longer than the step waits."""


def from_env(resource: dg.ConfigurableResource, field: str, env: dict[str, str]) -> str:
    """The field's value; empty, its environment variable's. defs/resources.py binds the variables with dg.EnvVar,
    but Dagster (1.13) drops those bindings when run config configures the resource (`resources.<key>.config`, e.g.
    only `timeout_seconds`: the bound field comes back empty, checked by hand): a field that the run config leaves
    out then still comes from its variable. This is the one read of these variables outside dg.EnvVar."""
    return (getattr(resource, field) or os.environ.get(env[field], "")).strip()


# The environment variable of each GatewayApiResource field (defs/resources.py binds them with dg.EnvVar).
GATEWAY_ENV = {
    "base_url": "AI_GATEWAY_BASE_URL",
    "account_id": "AI_GATEWAY_ACCOUNT_ID",
    "gateway_id": "AI_GATEWAY_ID",
    "api_token": "AI_GATEWAY_API_TOKEN",
}


class GatewayApiResource(dg.ConfigurableResource):
    """The AI gateway's logs API: AI_GATEWAY_BASE_URL, AI_GATEWAY_ACCOUNT_ID, AI_GATEWAY_ID, AI_GATEWAY_API_TOKEN
    (defs/resources.py); run config under resources.gateway_api.config overrides a field. All four empty: the pull
    is skipped.

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
        return GatewaySettings(**{name: from_env(self, name, GATEWAY_ENV) for name in GATEWAY_ENV})

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


WEBHOOK_URL_ENV = "AI_USAGE_ALERT_WEBHOOK_URL"
WEBHOOK_ENV = {"url": WEBHOOK_URL_ENV}


class AlertWebhookResource(dg.ConfigurableResource):
    """Where billing alerts are POSTed, and how hard a run tries. `url`: $AI_USAGE_ALERT_WEBHOOK_URL
    (defs/resources.py); empty: alerts are recorded and shown in the Dagster UI only. The URL may carry a token: only
    its host is ever logged. The numbers: see DeliveryPolicy (README, "Quotas and alerts"); set them in run config
    under resources.alert_webhook.config."""

    url: str = pydantic.Field(default="", repr=False)
    timeout_seconds: float = DeliveryPolicy.timeout_seconds
    max_attempts: int = DeliveryPolicy.max_attempts
    backoff_seconds: float = DeliveryPolicy.backoff_seconds
    max_retry_after_seconds: float = DeliveryPolicy.max_retry_after_seconds
    budget_seconds: float = DeliveryPolicy.budget_seconds
    max_consecutive_failures: int = DeliveryPolicy.max_consecutive_failures

    @property
    def resolved_url(self) -> str:
        return from_env(self, "url", WEBHOOK_ENV)

    def policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(**{f.name: getattr(self, f.name) for f in dataclasses.fields(DeliveryPolicy)})


PRICE_LIST_ENV_BY_FIELD = {"source": PRICE_LIST_ENV}


class PriceListResource(dg.ConfigurableResource):
    """Where the public price list (LiteLLM's model_prices_and_context_window.json format) comes from.

    `source`: an http(s) URL or a local file path, $AI_USAGE_PRICE_LIST_URL (defs/resources.py); empty: skip.
    """

    source: str = pydantic.Field(default="", repr=False)
    timeout_seconds: float = 30.0
    # The day whose catalog prices are compared with the list (ISO date); empty: today (UTC).
    as_of: str = ""

    def configured_source(self) -> str:
        return from_env(self, "source", PRICE_LIST_ENV_BY_FIELD)
