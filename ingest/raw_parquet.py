"""The landed raw data as Parquet files, for engines other than DuckDB (the dbt target `spark`: README "Running on
Spark"). The DuckDB tables stay the source of truth; this is their mirror, written with each landing:

    <data dir>/raw_parquet/gateway_requests/day=YYYY-MM-DD/<landing>.parquet   the rows a landing added, by UTC day
    <data dir>/raw_parquet/users/users.parquet                                 raw.users, whole (a snapshot)
    <data dir>/raw_parquet/quarantine/quarantine.parquet                       raw.quarantine, whole (a snapshot)

A landing's new rows are exactly the rows it inserted into raw.gateway_requests (already deduplicated there: a
request id is landed once), so the Parquet files hold each request once, as the table does. They are written
inside the landing's transaction, before its commit, into `raw_parquet/.pending/<pid>-<random>/`, and moved into
place right after the commit (one rename per file): a landing that rolls back leaves no file, and one killed between
its commit and the renames is published by the next landing (its rows are in the table: `recover`). A reader
that lists the files while a landing spanning several days is being published may see some of its days only.

The mirror is off unless `AI_USAGE_RAW_PARQUET=1` (measured at 1M requests: +2.7 CPU s on a 13.8 s landing, so the
DuckDB-only path does not pay for it); `python -m ingest.raw_parquet DATA_DIR` rewrites it whole from the warehouse
(e.g. after turning it on for a warehouse landed before).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from datetime import datetime
from pathlib import Path

import duckdb

ENABLED_ENV = "AI_USAGE_RAW_PARQUET"
FOLDER = "raw_parquet"
_PENDING = ".pending"
_MARKER = "landing.json"


def enabled() -> bool:
    """The mirror is on when $AI_USAGE_RAW_PARQUET is 1, true, yes or on (off by default: it adds about a fifth
    to the landing's CPU time, README "Running on Spark")."""
    return os.environ.get(ENABLED_ENV, "0").strip().lower() in {"1", "true", "yes", "on"}


def root(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER


def _data_dir(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The folder of the connection's database file (the data dir), or None for an in-memory database."""
    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    return Path(row[0]).resolve().parent if row and row[0] else None


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _stage(con: duckdb.DuckDBPyConnection, pending: Path, source: str | None, loaded_at: datetime | None) -> None:
    """Write, inside the open transaction, the landing's new requests by day and the two snapshots."""
    pending.mkdir(parents=True)
    if source is not None and loaded_at is not None:
        (pending / _MARKER).write_text(json.dumps({"source": source, "loaded_at": loaded_at.isoformat()}))
        landed = ("select *, strftime(created_at, '%Y-%m-%d') as day from raw.gateway_requests "
                  f"where source = {_literal(source)} and loaded_at = {_literal(loaded_at.isoformat(sep=' '))}"
                  " order by created_at, id")
        con.execute(f"copy ({landed}) to {_literal(str(pending / 'gateway_requests'))} "
                    f"(format parquet, partition_by (day), filename_pattern {_literal(pending.name + '_{i}')})")
    for table in ("users", "quarantine"):
        (pending / table).mkdir()
        con.execute(f"copy (select * from raw.{table} order by all) to "
                    f"{_literal(str(pending / table / (table + '.parquet')))} (format parquet)")


def _publish(pending: Path, target: Path) -> None:
    """Move a committed landing's files into place, the requests first, then the snapshots; remove `pending`."""
    requests = pending / "gateway_requests"
    if requests.is_dir():
        for day in sorted(requests.iterdir()):
            (target / "gateway_requests" / day.name).mkdir(parents=True, exist_ok=True)
            for part in sorted(day.iterdir()):
                os.replace(part, target / "gateway_requests" / day.name / part.name)
    for table in ("users", "quarantine"):
        snapshot = pending / table / f"{table}.parquet"
        if snapshot.is_file():
            (target / table).mkdir(parents=True, exist_ok=True)
            os.replace(snapshot, target / table / snapshot.name)
    shutil.rmtree(pending, ignore_errors=True)


def recover(con: duckdb.DuckDBPyConnection, target: Path) -> int:
    """Finish what a killed landing left in `.pending`: publish its requests if its transaction committed (the table
    holds its rows), else drop them; its snapshots are dropped (the caller writes newer ones). Returns how many
    landings were published."""
    from ingest.warehouse import process_exists  # here, not at the top: ingest.warehouse imports this module

    published = 0
    pending_root = target / _PENDING
    if not pending_root.is_dir():
        return 0
    for pending in sorted(pending_root.iterdir()):
        pid = pending.name.split("-", 1)[0]
        if not pid.isdigit() or process_exists(int(pid)):
            continue
        marker = pending / _MARKER
        committed = False
        if marker.is_file():
            landing = json.loads(marker.read_text())
            committed = con.execute(
                "select count(*) > 0 from raw.gateway_requests where source = ? and loaded_at = ?",
                [landing["source"], datetime.fromisoformat(landing["loaded_at"])],
            ).fetchone()[0]
        if committed:
            for table in ("users", "quarantine"):
                shutil.rmtree(pending / table, ignore_errors=True)
            _publish(pending, target)
            published += 1
        else:
            shutil.rmtree(pending, ignore_errors=True)
    return published


def commit(con: duckdb.DuckDBPyConnection, *, source: str | None = None, loaded_at: datetime | None = None) -> None:
    """Commit the open landing transaction and publish its Parquet mirror: the requests it added (those of `source`
    landed at `loaded_at`, when given) and the users and quarantine snapshots. Only commits when the mirror is off
    or the database is in memory. A failure before the commit rolls nothing back here: the caller's rollback does,
    and the staged files are removed."""
    data_dir = _data_dir(con) if enabled() else None
    if data_dir is None:
        con.execute("commit")
        return
    target = root(data_dir)
    recover(con, target)
    pending = target / _PENDING / f"{os.getpid()}-{uuid.uuid4().hex}"
    try:
        _stage(con, pending, source, loaded_at)
        con.execute("commit")
    except BaseException:
        shutil.rmtree(pending, ignore_errors=True)
        raise
    _publish(pending, target)


def rebuild(con: duckdb.DuckDBPyConnection, data_dir: Path) -> int:
    """Rewrite the whole mirror from the warehouse's raw tables (one file per day); returns the requests written."""
    target = root(data_dir)
    fresh = target.with_name(f"{FOLDER}.rebuild-{os.getpid()}")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    con.execute(
        "copy (select *, strftime(created_at, '%Y-%m-%d') as day from raw.gateway_requests order by created_at, id) "
        f"to {_literal(str(fresh / 'gateway_requests'))} "
        "(format parquet, partition_by (day), filename_pattern 'rebuild_{i}')"
    )
    for table in ("users", "quarantine"):
        (fresh / table).mkdir()
        con.execute(f"copy (select * from raw.{table} order by all) to "
                    f"{_literal(str(fresh / table / (table + '.parquet')))} (format parquet)")
    old = target.with_name(f"{FOLDER}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(fresh, target)
    shutil.rmtree(old, ignore_errors=True)
    return con.execute("select count(*) from raw.gateway_requests").fetchone()[0]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ingest.raw_parquet DATA_DIR  (rewrites DATA_DIR/raw_parquet from the warehouse)")
        return 2
    data_dir = Path(argv[0]).resolve()
    from ingest.warehouse import connect

    with connect(data_dir / "warehouse.duckdb") as con:
        count = rebuild(con, data_dir)
    print(f"{root(data_dir)}: {count} requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
