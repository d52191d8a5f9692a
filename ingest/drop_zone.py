"""What is in the drop zone: what changed since last time (for the sensor), the first day of each file (for
`make run`), and the record of what was refused (``raw.drop_zone_refusals``).

The sensor decides from metadata only: a file is identified by (size, mtime_ns) from the listing, and no file is
opened. `make run` reads at most the first lines of each file. Listing rules: :func:`ingest.files.scan_drop_zone`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.contract import BadRecord, parse_timestamp
from ingest.files import DropZoneListing, Line, LogFile, gateway_dir, read_lines, scan_drop_zone

REFUSALS_DDL = """
create schema if not exists raw;
create table if not exists raw.drop_zone_refusals (
    name varchar not null,              -- the entry's name as shown safely: \\xNN for bytes that are not UTF-8
    kind varchar not null,              -- refused (never opened) | near_miss (a name that almost matches)
    reason varchar not null,            -- symlink, not_regular_file, name_not_utf8, ..., near_miss_name, subfolder
    detail varchar not null,            -- what it is and what to do
    first_seen_at timestamp not null,   -- UTC
    last_seen_at timestamp not null,    -- UTC
    first_load_id varchar not null,
    last_load_id varchar not null
);
"""


@dataclass(frozen=True)
class Changes:
    """A listing of the drop zone, its state for the sensor's cursor, and the files new or changed since `previous`."""

    listing: DropZoneListing
    state: dict[str, list[int]]
    changed: list[LogFile]


def _key(log_file: LogFile, folder: Path) -> str:
    return log_file.path.relative_to(folder).as_posix()


def drop_zone_changes(data_dir: Path, previous: dict[str, list[int]]) -> Changes:
    """One listing of the drop zone: its state ({name: [size, mtime_ns]}) and the accepted files that are new or
    changed since `previous` (an earlier state). Opens no file."""
    folder = gateway_dir(data_dir)
    listing = scan_drop_zone(folder)
    keyed = {_key(log_file, folder): log_file for log_file in listing.accepted}
    state = {key: [log_file.size, log_file.mtime_ns] for key, log_file in keyed.items()}
    changed = [log_file for key, log_file in keyed.items() if previous.get(key) != state[key]]
    return Changes(listing, state, changed)


def mtime_day(log_file: LogFile) -> date:
    """The UTC day of a file's last write: no line in it was written later."""
    return datetime.fromtimestamp(log_file.mtime_ns / 1e9, timezone.utc).date()


def first_day(path: Path, *, max_lines: int = 100) -> date | None:
    """The UTC day of the first parseable `created_at` among the first `max_lines` lines of `path`, or None.

    Bounded on purpose (`make run` uses it to pick the first partition): files are written in time order, and a
    line of an earlier day further down is landed and priced all the same (the dbt models price every new request,
    whatever the partitions of the run).
    """
    try:
        with contextlib.closing(read_lines(path)) as lines:
            for line in itertools.islice(lines, max_lines):
                if not isinstance(line, Line):
                    continue
                try:
                    record = json.loads(line.text)
                    return parse_timestamp(record["created_at"], "created_at").date()
                except (ValueError, KeyError, TypeError, RecursionError, BadRecord):
                    continue
    except OSError:  # gone, swapped for a link, unreadable: the run's listing says so
        return None
    return None


def record_refusals(
    con: duckdb.DuckDBPyConnection, listing: DropZoneListing, *, load_id: str, now: datetime | None = None
) -> int:
    """Record the refused entries and the near misses of `listing` in ``raw.drop_zone_refusals``: a new
    (name, reason) gets a row, a known one its last_seen_at and last_load_id moved on. Returns the new rows."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    con.execute(REFUSALS_DDL)
    rows = [{"name": entry.name, "kind": kind, "reason": entry.reason, "detail": entry.detail}
            for kind, entries in (("refused", listing.refused), ("near_miss", listing.near_misses))
            for entry in entries]
    if not rows:
        return 0
    con.register("incoming_refusals", pa.Table.from_pylist(
        rows, schema=pa.schema([(column, pa.string()) for column in ("name", "kind", "reason", "detail")])))
    con.execute("begin transaction")
    try:
        con.execute(
            """
            update raw.drop_zone_refusals as r
            set last_seen_at = ?, last_load_id = ?, detail = i.detail, kind = i.kind
            from incoming_refusals as i
            where r.name = i.name and r.reason = i.reason
            """,
            [now, load_id],
        )
        added = con.execute(
            """
            insert into raw.drop_zone_refusals
            select i.name, i.kind, i.reason, i.detail, ?, ?, ?, ?
            from incoming_refusals as i
            where not exists (select 1 from raw.drop_zone_refusals as r where r.name = i.name and r.reason = i.reason)
            """,
            [now, now, load_id, load_id],
        ).fetchone()[0]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("incoming_refusals")
    return added
