"""The published copy of the warehouse: what people and BI tools open, `<data dir>/published/warehouse.duckdb`.

DuckDB lets one process write a file, and a reader of the file being written fails ("Could not set lock on file")
or, holding it open, blocks the writer. So nobody reads `<data dir>/warehouse.duckdb`: at the end of every run the
`published_warehouse` asset copies it, whole and consistent, to `published/warehouse.duckdb`:

1. open the warehouse for writing (waiting, bounded, for another writer) and CHECKPOINT, so that the file alone holds
   every committed change (no write-ahead log to copy); the connection stays open, so nothing writes during the copy;
2. copy the file to a temporary file in `published/` (the kernel copies: no row passes through Python), fsync it;
3. check the copy opens as a DuckDB database and holds the marts (attached read-only);
4. make it read-only (mode 0444) and rename it over `published/warehouse.duckdb` (atomic on POSIX).

A reader that holds the old copy open keeps reading the old inode, undisturbed, and sees the new figures when it
reconnects; DuckDB's lock is on the old inode, so a reader (even one that opened it for writing) never blocks a run.
The finance and reporting marts are views (over `main.<table>`, no catalog name): they work in the copy as they do
in the warehouse, and evaluate "today" (the provisional month, the partial day) when they are read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest.settings import WAREHOUSE_FILE

PUBLISHED_DIR = "published"
# Tables that must be in a copy before it is published (a truncated or foreign file is refused).
REQUIRED_TABLES = ("ai_usage_analytics", "ai_revenue_analytics", "user_statements", "run_summary")


def published_path(data_dir: Path) -> Path:
    """`<data dir>/published/warehouse.duckdb`: the file finance, BI tools and people open (read-only)."""
    return Path(data_dir) / PUBLISHED_DIR / WAREHOUSE_FILE


@dataclass(frozen=True)
class Publication:
    path: Path
    size_bytes: int
    tables: int
    requests: int


def _check_copy(copy: Path) -> tuple[int, int]:
    """(tables and views in main, rows of ai_usage_analytics) of the copy, attached read-only; raises when it is not
    a DuckDB file with the marts."""
    with duckdb.connect() as con:
        con.execute(f"attach '{str(copy).replace(chr(39), chr(39) * 2)}' as warehouse (read_only)")
        names = {row[0] for row in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'warehouse' "
            "and table_schema = 'main'").fetchall()}
        missing = [name for name in REQUIRED_TABLES if name not in names]
        if missing:
            raise RuntimeError(f"the copy of the warehouse lacks {', '.join(missing)}: not published; materialize "
                               "every asset (make run) and publish again")
        requests = con.execute("select count(*) from warehouse.main.ai_usage_analytics").fetchone()[0]
    return len(names), requests


def publish(
    warehouse: Path,
    target: Path,
    open_writer: Callable[[], duckdb.DuckDBPyConnection],
) -> Publication:
    """Copy the warehouse file `warehouse` to `target` atomically (see the module docstring). `open_writer` opens a
    write connection to `warehouse` (waiting for its lock)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):  # a publication killed half-way
        leftover.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with open_writer() as con:
            con.execute("checkpoint")
            shutil.copyfile(warehouse, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tables, requests = _check_copy(tmp)
        tmp.chmod(0o444)
        # a write-ahead log beside the published file was written by a reader that opened it for writing: it belongs
        # to the old copy and must not be replayed into the new one
        Path(f"{target}.wal").unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Publication(target, target.stat().st_size, tables, requests)
