"""Landing raw data in the DuckDB warehouse: the ``raw`` schema, exactly once, with nothing lost.

Every line read ends in exactly one of three places, and ``raw.load_log`` records the counts per source so that
``lines_read = accepted + duplicates + quarantined`` can be checked:
- ``raw.gateway_requests``: the first version of each request id (the dedupe key of the contract);
- a duplicate: the same id with the same billing content, already landed (counted, not stored again);
- ``raw.quarantine``: anything else, with the reason, the source (file or API pull), the line and the field.

Each source is landed whole in one transaction (consecutive gateway files share one, up to ``GROUP_BYTES`` of
content: one commit and one decision of outcomes for them all): a run killed half-way leaves whole sources or
nothing behind, and the landing ledger is appended right after each commit. A gateway file is read once, a few
megabytes at a time, and fingerprinted (SHA-256) while it is read
(:func:`ingest.files.line_batches`). Its lines are judged in bulk, a batch at a time (the next batch's plain lines
are found on a thread of its own while this one is staged): the provably clean ones are validated and
turned into rows by SQL (:mod:`ingest.contract_sql`, which builds the same rows and ``record_hash`` as the
reference), every other line by the reference :func:`parse_line` (:func:`ingest.contract.validate_record`), so
a bad line gets exactly the reason, field and detail it always got. Rows are staged in a DuckDB temporary table
(spilled to disk beyond ``LANDING_MEMORY_LIMIT``), so memory does not grow with the file; each line's outcome
(new, duplicate, conflict) is then decided once per transaction, in SQL, as if the files had landed one after the
other. Gateway files land in the order of the landing ledger
(:mod:`ingest.ledger`), so that a warehouse rebuilt from the drop zone keeps the same first versions, and bills
the same. A file found with the size, mtime and inode it had when it landed (``raw.landed_file_stats``) is skipped
without being read.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import operator
import os
import shutil
import tempfile
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest import contract_sql, ledger, raw_parquet
from ingest.contract import (
    RECORD_COLUMNS,
    BadRecord,
    GatewayRequest,
    clean_text,
    parse_timestamp,
    validate_record,
)
from ingest.files import (
    BadLine,
    HashingReader,
    IrregularFile,
    LineBatch,
    decompressed,
    file_fingerprint,
    gateway_dir,
    line_batches,
    lines_of,
    list_log_files,
    open_regular,
)

Progress = Callable[[str], None]

RAW_DDL = """
create schema if not exists raw;
-- id and record_hash are unique per row: stored as they are (`using compression uncompressed`, for a table created
-- by this version), as trying a dictionary and FSST on every row group of them cost a third of the insert (measured
-- at 1M requests: 1.30 -> 0.89 CPU s; the table 55 -> 79 MiB)
create table if not exists raw.gateway_requests (
    id varchar using compression uncompressed not null,
    created_at timestamp not null,          -- UTC
    user_id varchar not null,
    model varchar not null,
    status_code integer not null,
    native_tokens_prompt bigint not null,
    native_tokens_completion bigint not null,
    native_tokens_cached bigint not null,
    native_tokens_cache_creation bigint not null,
    native_tokens_reasoning bigint not null,
    total_cost decimal(38, 12),             -- the gateway's own figure: reconciliation only
    record_hash varchar using compression uncompressed not null,
    source varchar not null,
    source_line bigint,
    load_id varchar not null,
    loaded_at timestamp not null,
    native_tokens_cache_creation_1h bigint default 0,  -- v1 extension: part of cache_creation, 1h lifetime
    service_tier varchar                    -- v1 extension: the provider's service tier (null = default)
);
-- a warehouse created before the two v1 extensions gets them (existing rows: 0 and null, their meaning when absent)
alter table raw.gateway_requests add column if not exists native_tokens_cache_creation_1h bigint default 0;
alter table raw.gateway_requests add column if not exists service_tier varchar;
create table if not exists raw.quarantine (
    source varchar not null,
    line_number bigint,
    reason varchar not null,
    field varchar,
    detail varchar not null,
    raw_line varchar,
    request_id varchar,
    load_id varchar not null,
    quarantined_at timestamp not null
);
create table if not exists raw.load_log (
    load_id varchar not null,
    source varchar not null,
    source_kind varchar not null,           -- gateway_file | gateway_api | users_export
    sha256 varchar,
    lines_read bigint not null,
    accepted bigint not null,
    duplicates bigint not null,
    quarantined bigint not null,
    started_at timestamp not null,
    finished_at timestamp not null
);
-- A landed gateway file's size, mtime and inode while it was read (if it held still): a file found with the same
-- three later is skipped without being read. Written in the file's transaction, with its raw.load_log row.
create table if not exists raw.landed_file_stats (
    source varchar not null,
    sha256 varchar not null,
    file_size bigint not null,
    file_mtime_ns bigint not null,
    file_inode bigint not null,
    load_id varchar not null
);
create table if not exists raw.users (
    id varchar not null,
    email varchar not null,
    created_at timestamp not null,          -- UTC
    plan varchar not null,
    source_line bigint,
    loaded_at timestamp not null
);
"""


def _arrow_type(column: str) -> pa.DataType:
    """The Arrow type of a record column, from its annotation on GatewayRequest (so a new contract column needs no
    change here)."""
    hint = _HINTS[column]
    base = next((arg for arg in typing.get_args(hint) if arg is not type(None)), hint)
    return _ARROW_TYPES[base]


_HINTS = typing.get_type_hints(GatewayRequest)
_ARROW_TYPES = {str: pa.string(), int: pa.int64(), datetime: pa.timestamp("us"), Decimal: pa.decimal128(38, 12)}
# The staging rows of one source: its position in the source (keep-first order), its line, the record's columns.
_STAGING_SCHEMA = pa.schema(
    [("seq", pa.int64()), ("source_line", pa.int64()), *[(column, _arrow_type(column)) for column in RECORD_COLUMNS]]
)
_QUARANTINE_SCHEMA = pa.schema(
    [("line_number", pa.int64()), ("reason", pa.string()), ("field", pa.string()),
     ("detail", pa.string()), ("raw_line", pa.string()), ("request_id", pa.string())]
)
def _sql_type(column: str) -> str:
    return {pa.string(): "varchar", pa.int64(): "bigint", pa.timestamp("us"): "timestamp",
            pa.decimal128(38, 12): "decimal(38, 12)"}[_arrow_type(column)]


# landing_staged: _STAGING_SCHEMA as a DuckDB temp table (spilled to disk beyond the memory limit)
_STAGING_DDL = (
    "create or replace temp table landing_staged (seq bigint, source_line bigint, "
    + ", ".join(f"{column} {_sql_type(column)}" for column in RECORD_COLUMNS)
    + ")"
)


_record_values = operator.attrgetter(*RECORD_COLUMNS)  # GatewayRequest.as_row, faster
RAW_PREVIEW_CHARS = 1000
# Lines held in Python at a time while landing: memory is bounded by this, not by the size of the source.
BATCH_LINES = 50_000
# DuckDB's share while landing a source alone: its staged rows and hash tables spill to disk beyond it.
LANDING_MEMORY_LIMIT = "256MB"
# ... and while landing several files in one transaction (at most GROUP_BYTES of content together): their staged
# rows stay in memory. Measured at 1M requests (one 230 MB transaction): with 256MB the insert evicted the staged
# rows to compressed temp files (+0.7 CPU s); with 384MB it does not (peak RSS about 650 MiB).
GROUP_MEMORY_LIMIT = "384MB"


@dataclass
class Quarantined:
    line_number: int | None
    reason: str
    field: str | None
    detail: str
    raw_line: str
    request_id: str | None = None


@dataclass
class LoadResult:
    source: str
    source_kind: str
    lines_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped: bool = False
    sha256: str | None = None
    reasons: Counter = field(default_factory=Counter)
    unchanged_since: str | None = None  # a skipped users export: the load that landed these very bytes

    @property
    def balanced(self) -> bool:
        return self.lines_read == self.accepted + self.duplicates + self.quarantined


def line_counts(results: Iterable[LoadResult]) -> dict[str, int]:
    """Lines read, accepted, duplicates and quarantined, summed over sources (a skipped source counts 0)."""
    results = list(results)
    return {name: sum(getattr(result, name) for result in results)
            for name in ("lines_read", "accepted", "duplicates", "quarantined")}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        con.execute(RAW_DDL)
    return con


# One decoder for every line (json.loads with options builds a new one per call: a tenth of the landing time).
_JSON = json.JSONDecoder(parse_float=Decimal)


def parse_line(text: str, *, now: datetime) -> GatewayRequest:
    try:
        value = _JSON.decode(text)
    except (ValueError, RecursionError) as error:
        raise BadRecord("not_json", None, f"not valid JSON: {error}") from None
    return validate_record(value, now=now)


def _record_id(text: str) -> str | None:
    """Best-effort id of a bad line, so that a quarantined request can be found by its id."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    request_id = value.get("id") if isinstance(value, dict) else None
    return clean_text(request_id[:128]) if isinstance(request_id, str) else None


def land_requests(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    source_kind: str,
    items: Iterable[tuple[int | None, GatewayRequest | Quarantined]],
    load_id: str,
    sha256: str | None = None,
) -> LoadResult:
    """Land one source's validated requests and bad lines in a single transaction and log the counts.

    ``items`` yields ``(line_number, request_or_quarantined)``. It is streamed, ``BATCH_LINES`` at a time:
    requests go to a staging table (DuckDB's, spilled to disk beyond ``LANDING_MEMORY_LIMIT``) and bad lines
    straight to ``raw.quarantine`` (inside the transaction), so memory does not grow with the size of the source,
    and an error while producing ``items`` leaves the warehouse untouched. Then SQL decides, per id: the version
    already in the warehouse, else the first version in this source (by position), is the one kept; every other
    line with that id is a duplicate when its billing content (``record_hash``) is the same and is quarantined as
    ``conflicting_duplicate`` when it differs.
    """

    def fill(staging: _Staging) -> None:
        for position, (line_number, item) in enumerate(items, start=1):
            staging.add(position, line_number, item)

    (result,) = _land(con, [_Part(source, source_kind, fill, sha256)], load_id=load_id)
    return result


# A transaction may land several sources (parts): a staged line's position is ``part << PART_SHIFT`` plus its
# position in its source, so that one order (sources in landing order, lines in order) decides which version of
# an id comes first, and ``seq >> PART_SHIFT`` says which source a staged line came from.
PART_SHIFT = 40


class _Staging:
    """One source being landed, inside its transaction: requests are staged in ``landing_staged``, bad lines go to
    ``raw.quarantine``, each a batch of at most ``BATCH_LINES`` at a time. ``part``: the source's place among the
    sources of the transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str, load_id: str, result: LoadResult, part: int = 0):
        self.con, self.source, self.load_id, self.result = con, source, load_id, result
        self.offset = part << PART_SHIFT
        self.requests: list[tuple[int, int | None, GatewayRequest]] = []
        self.bad: list[Quarantined] = []
        self.file_stat: os.stat_result | None = None  # a gateway file's stat while it was read, if it held still

    def add(self, seq: int, line_number: int | None, item: GatewayRequest | Quarantined) -> None:
        """One line read: a request (staged at position ``seq``) or a bad line."""
        self.result.lines_read += 1
        if isinstance(item, Quarantined):
            self.bad.append(item)
            if len(self.bad) >= BATCH_LINES:
                _quarantine(self.con, self.source, self.bad, self.load_id, self.result)
        else:
            self.requests.append((self.offset + seq, line_number, item))
            if len(self.requests) >= BATCH_LINES:
                self._stage()

    def add_text(self, line_number: int, text: str, now: datetime) -> None:
        """A line of a file that the fast path did not take: the reference judges it."""
        try:
            request = parse_line(text, now=now)
        except BadRecord as error:
            self.add(line_number, line_number, Quarantined(
                line_number, error.reason, error.field, error.detail, text[:RAW_PREVIEW_CHARS],
                _record_id(text) if error.reason != "not_json" else None,
            ))
            return
        self.add(line_number, line_number, request)

    def add_lines(self, numbers: pa.Array, texts: pa.Array, now: datetime, plain: pa.Array) -> None:
        """Lines of a file (non-blank, UTF-8) and which of them are plain (:func:`contract_sql.plain_lines`): the
        provably clean ones are validated and staged in SQL (:mod:`ingest.contract_sql`), the others one by one by
        the reference, :func:`parse_line`."""
        self.result.lines_read += len(numbers)
        clean = 0
        if pc.any(plain).as_py():
            # Read by name (DuckDB's replacement scan of a Python variable): con.register would leave a dropped view
            # holding the batch until the transaction ends, so memory would grow with the file. The lines that are
            # not plain are left out by the query (a copy of the batch without them cost more).
            landing_batch = pa.table({"line_number": numbers, "line": texts, "plain": plain})  # noqa: F841
            clean = self.con.execute(
                "insert into landing_staged " + contract_sql.CLEAN_SQL, contract_sql.time_bounds(now, self.offset)
            ).fetchone()[0]
        if clean < len(numbers):
            if clean:  # the lines not staged: not plain, or plain but not clean
                staged = self.con.sql(
                    "select source_line from landing_staged where seq between $low and $high",
                    params={"low": self.offset + numbers[0].as_py(), "high": self.offset + numbers[-1].as_py()},
                ).to_arrow_table().column(0)
                slow = pc.invert(pc.is_in(numbers, value_set=staged.combine_chunks()))
            else:
                slow = pa.array([True] * len(numbers))
            self.result.lines_read -= len(numbers) - clean  # add_text counts them
            for number, text in zip(numbers.filter(slow).to_pylist(), texts.filter(slow).to_pylist(), strict=True):
                self.add_text(number, text, now)

    def flush(self) -> None:
        self._stage()
        _quarantine(self.con, self.source, self.bad, self.load_id, self.result)

    def _stage(self) -> None:
        if self.requests:
            landing_incoming = _staging_table(self.requests)  # noqa: F841 (read by name, like landing_batch)
            self.con.execute("insert into landing_staged select * from landing_incoming")
            self.requests.clear()


@dataclass
class _Part:
    """One source of a landing transaction: ``fill`` stages its lines."""

    source: str
    source_kind: str
    fill: Callable[[_Staging], None]
    sha256: str | None = None


def _land(con: duckdb.DuckDBPyConnection, parts: list[_Part], *, load_id: str) -> list[LoadResult]:
    """Land sources in a single transaction: each part's ``fill`` stages its lines (in order: the parts are in
    landing order), then every staged line's outcome (new, duplicate, conflict) is decided once for all of them,
    new rows and conflicts are written and the counts logged, one ``raw.load_log`` row per source. The outcomes are
    those of landing the sources one after the other: the version kept for an id is the one already landed, else
    the first among the parts."""
    results = [LoadResult(source=part.source, source_kind=part.source_kind, sha256=part.sha256) for part in parts]
    started: list[datetime] = []
    stagings: list[_Staging] = []
    with _bounded_memory(con, LANDING_MEMORY_LIMIT if len(parts) == 1 else GROUP_MEMORY_LIMIT):
        con.execute("begin transaction")
        try:
            con.execute(_STAGING_DDL)
            with _one_thread(con):
                for index, (part, result) in enumerate(zip(parts, results, strict=True)):
                    started.append(utc_now().replace(tzinfo=None))
                    staging = _Staging(con, part.source, load_id, result, index)
                    part.fill(staging)
                    staging.flush()
                    stagings.append(staging)
            outcomes = _decide(con, len(parts))
            for result, outcome in zip(results, outcomes, strict=True):
                result.duplicates = outcome.get("duplicate", 0)
            if any(outcome.get("conflict") for outcome in outcomes):
                conflicts = _quarantine_conflicts(con, parts, load_id, results)
            else:
                conflicts = [0] * len(parts)
            inserted = _insert_new(con, parts, load_id, started)
            for result, outcome, conflict in zip(results, outcomes, conflicts, strict=True):
                result.accepted = outcome.get("new", 0)
                if not result.balanced or conflict != outcome.get("conflict", 0):
                    # cannot happen by construction; never commit a load that does not add up
                    raise AssertionError(f"{result.source}: the counts do not add up: {result}, outcomes {outcome}")
            if inserted != sum(result.accepted for result in results):
                raise AssertionError(f"{inserted} rows inserted for {results}")
            for table in ("landing_staged", "landing_repeats"):
                con.execute(f"drop table if exists {table}")
            for result, staging, started_at in zip(results, stagings, started, strict=True):
                _log(con, result, load_id, started_at)
                if staging.file_stat is not None:
                    _log_stat(con, result, load_id, staging.file_stat)
            if len(parts) == 1:  # commit + the Parquet mirror
                raw_parquet.commit(con, source=parts[0].source, loaded_at=started[0])
            else:  # (the mirror is written one source per transaction: see _land_all)
                con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return results


# A landing's scratch directory is `<warehouse file>.landing-<pid>-<random>`, removed when the landing ends; one
# left behind by a killed process is removed by the next landing.
_SCRATCH = ".landing-"


@contextmanager
def _scratch(con: duckdb.DuckDBPyConnection) -> Iterator[Path]:
    database = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    if database and database[0]:
        folder, prefix = Path(database[0]).parent, Path(database[0]).name + _SCRATCH
    else:  # an in-memory database
        folder, prefix = Path(tempfile.gettempdir()), "ai-usage" + _SCRATCH
    for stale in folder.glob(prefix + "*"):
        pid = stale.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not process_exists(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-", dir=folder) as path:
        yield Path(path)


def process_exists(pid: int) -> bool:
    """Whether a process `pid` exists (it may be a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _one_checkpoint(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit each transaction without a checkpoint (its rows are in the database file and the WAL already), then
    checkpoint once at the end: a checkpoint per transaction would compress the table's last row groups again each
    time. Plain FSST is left out of the compression methods meanwhile (:func:`_without_fsst`): a large insert
    compresses its row groups as it writes them, as a checkpoint does."""
    compression = con.execute("select current_setting('disabled_compression_methods')").fetchone()[0]
    with duckdb_setting(con, "checkpoint_threshold", "1TB"), \
            duckdb_setting(con, "disabled_compression_methods", _without_fsst(compression)):
        yield
        try:
            con.execute("checkpoint")
        except duckdb.Error:  # another transaction is open: DuckDB checkpoints when the WAL is past the threshold
            pass


def _without_fsst(disabled: str) -> str:
    """The compression methods to leave out of the landing's checkpoint: plain FSST too. Measured at 1M requests:
    DuckDB tries it on every string column and keeps dict_fsst instead (the same file size), and the trying is a
    third of the checkpoint's CPU time (1.39 -> 1.01 s)."""
    methods = [method.strip() for method in disabled.split(",") if method.strip()]
    return ",".join(methods if "fsst" in {method.lower() for method in methods} else [*methods, "fsst"])


@contextmanager
def _one_thread(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB on one thread while the lines are staged (a batch of 50,000 lines at a time), then its own number
    back. A batch's query on two threads cost more CPU time in all (measured at 1M requests: about 0.3 CPU s of
    7) and little time: the file is read and the next batch checked (:func:`_fill_from_file`) on the other core
    meanwhile."""
    with duckdb_setting(con, "threads", 1):
        yield


@contextmanager
def _bounded_memory(con: duckdb.DuckDBPyConnection, limit: str = LANDING_MEMORY_LIMIT) -> Iterator[None]:
    """Hold DuckDB to ``limit`` while landing (its hash tables spill to disk beyond it), then put the connection's
    own limit back."""
    with duckdb_setting(con, "memory_limit", limit):
        yield


@contextmanager
def duckdb_setting(con: duckdb.DuckDBPyConnection, name: str, value: object) -> Iterator[None]:
    """DuckDB's setting ``name`` at ``value`` for the block, then the connection's own value back (also after an
    error)."""
    previous = con.execute(f"select current_setting('{name}')").fetchone()[0]
    con.execute(f"set {name} = '{value}'")
    try:
        yield
    finally:
        con.execute(f"set {name} = '{previous}'")


def _quarantine(
    con: duckdb.DuckDBPyConnection, source: str, bad: list[Quarantined], load_id: str, result: LoadResult
) -> None:
    """Write a batch of bad lines to ``raw.quarantine``, count them and empty the batch."""
    _write_quarantine(con, source, bad, load_id)
    result.quarantined += len(bad)
    result.reasons.update(item.reason for item in bad)
    bad.clear()


def _staging_table(requests: list[tuple[int, int | None, GatewayRequest]]) -> pa.Table:
    rows = [(position, line_number, *_record_values(request)) for position, line_number, request in requests]
    columns = zip(*rows, strict=True)  # one tuple per column
    columns = [pa.array(values, type=kind) for values, kind in zip(columns, _STAGING_SCHEMA.types, strict=True)]
    return pa.Table.from_arrays(columns, schema=_STAGING_SCHEMA)


def _decide(con: duckdb.DuckDBPyConnection, parts: int) -> list[dict[str, int]]:
    """Decide every staged line's outcome, once: ``landing_repeats`` holds the lines that are not new (their id
    was landed before, or comes earlier in this transaction) with their outcome and where the kept version is. The
    kept version of an id: the one already landed, else the first staged (``kept_part``: the part it is in).
    Returns the count per outcome, per part."""
    con.execute(
        f"""
        create or replace temp table landing_repeats as
        with landed as materialized (
            select r.id, r.record_hash, r.source, r.source_line
            from raw.gateway_requests as r semi join landing_staged as s on s.id = r.id
        ),
        -- the lines whose id may be on another line too: its hash is on two lines, or it was landed before (a
        -- 64-bit hash is grouped much faster than the id, and a collision only makes a few more candidates)
        repeated_hashes as (
            select hash(id) as id_hash from landing_staged group by id_hash having count(*) > 1
        ),
        candidates as materialized (
            select seq, id, record_hash, source_line from landing_staged
            where hash(id) in (select id_hash from repeated_hashes) or id in (select id from landed)
        ),
        firsts as (
            select id, min(seq) as first_seq, arg_min(record_hash, seq) as first_hash,
                   arg_min(source_line, seq) as first_line, count(*) as lines
            from candidates
            group by id
        ),
        repeated as (
            select f.*, r.id is not null as landed_before, r.record_hash as landed_hash, r.source as landed_source,
                   r.source_line as landed_line
            from firsts as f left join landed as r on r.id = f.id
            where f.lines > 1 or r.id is not null
        )
        select
            s.seq,
            case when s.record_hash = coalesce(p.landed_hash, p.first_hash) then 'duplicate' else 'conflict' end
                as outcome,
            p.landed_before,
            p.landed_source as kept_source,
            p.first_seq >> {PART_SHIFT} as kept_part,
            coalesce(p.landed_line, p.first_line) as kept_line
        from candidates as s
        join repeated as p on p.id = s.id
        where p.landed_before or s.seq <> p.first_seq
        """
    )
    counts: list[dict[str, int]] = [{} for _ in range(parts)]
    for part, outcome, count in con.execute(
        f"select seq >> {PART_SHIFT}, outcome, count(*) from landing_repeats group by all"
        f" union all select seq >> {PART_SHIFT}, 'staged', count(*) from landing_staged group by all"
    ).fetchall():
        counts[part][outcome] = count
    return [
        {"new": outcome.pop("staged", 0) - sum(outcome.values()), **outcome} for outcome in counts
    ]


def _quarantine_conflicts(
    con: duckdb.DuckDBPyConnection, parts: list[_Part], load_id: str, results: list[LoadResult]
) -> list[int]:
    """Quarantine the conflicting lines in the order of the sources, a batch at a time; return how many, per
    part."""
    columns = ", ".join(f"s.{column}" for column in RECORD_COLUMNS)
    counts, after = [0] * len(parts), -1
    while True:  # a page at a time (an open result would block the inserts into raw.quarantine)
        rows = con.sql(
            f"""
            with page as (
                select * from landing_repeats where outcome = 'conflict' and seq > $after
                order by seq limit {BATCH_LINES}
            )
            select s.seq, s.source_line, r.landed_before, r.kept_source, r.kept_part, r.kept_line, {columns}
            from page as r join landing_staged as s on s.seq = r.seq
            order by s.seq
            """,
            params={"after": after},
        ).to_arrow_table().to_pylist()
        if not rows:
            return counts
        bad: dict[int, list[Quarantined]] = {}
        for row in rows:
            part = row["seq"] >> PART_SHIFT
            if row["landed_before"]:
                kept_at = f"{row['kept_source']} line {row['kept_line']}"
            elif row["kept_part"] != part:  # landed in this transaction, from a source before this one
                kept_at = f"{parts[row['kept_part']].source} line {row['kept_line']}"
            else:
                kept_at = f"line {row['kept_line']} of the same source"
            request = GatewayRequest(**{column: row[column] for column in RECORD_COLUMNS})
            bad.setdefault(part, []).append(_conflict(row["source_line"], request, kept_at))
        for part, items in bad.items():
            counts[part] += len(items)
            _quarantine(con, parts[part].source, items, load_id, results[part])
        after = rows[-1]["seq"]
        if len(rows) < BATCH_LINES:  # the last page
            return counts


def _insert_new(
    con: duckdb.DuckDBPyConnection, parts: list[_Part], load_id: str, loaded_at: list[datetime]
) -> int:
    """Insert the new lines (staged, not repeats), each with its part's source and landing time (picked from two
    lists by the part: a join would be planned with the staged rows as its build side)."""
    columns = ", ".join(f"s.{column}" for column in RECORD_COLUMNS)
    return con.execute(
        f"""
        insert into raw.gateway_requests by name
        select {columns}, $sources[(s.seq >> {PART_SHIFT}) + 1] as source, s.source_line, $load_id as load_id,
               $loaded_at[(s.seq >> {PART_SHIFT}) + 1] as loaded_at
        from landing_staged as s
        anti join landing_repeats as r on r.seq = s.seq
        """,
        {"sources": [part.source for part in parts], "load_id": load_id, "loaded_at": loaded_at},
    ).fetchone()[0]


def _conflict(line_number: int | None, request: GatewayRequest, first: str) -> Quarantined:
    return Quarantined(
        line_number,
        "conflicting_duplicate",
        "id",
        f"id {request.id!r} was first seen at {first} with different content; the first version is kept",
        json.dumps(
            {column: str(value) for column, value in zip(RECORD_COLUMNS, request.as_row(), strict=True)}, sort_keys=True
        )[:RAW_PREVIEW_CHARS],
        request.id,
    )


def _write_quarantine(con: duckdb.DuckDBPyConnection, source: str, bad: list[Quarantined], load_id: str) -> None:
    if not bad:
        return
    now = utc_now().replace(tzinfo=None)
    rows = pa.Table.from_pylist(
        [
            {
                "line_number": item.line_number,
                "reason": item.reason,
                "field": item.field,
                "detail": item.detail[:RAW_PREVIEW_CHARS],
                "raw_line": item.raw_line[:RAW_PREVIEW_CHARS],
                "request_id": item.request_id,
            }
            for item in bad
        ],
        schema=_QUARANTINE_SCHEMA,
    )
    incoming_quarantine = rows  # noqa: F841 (read by name: a registered view would live until the commit)
    # Loading the same bad line again (a re-run) must not grow the quarantine.
    con.execute(
        """
        insert into raw.quarantine
        select ?, q.line_number, q.reason, q.field, q.detail, q.raw_line, q.request_id, ?, ?
        from incoming_quarantine as q
        where not exists (
            select 1 from raw.quarantine as e
            where e.source = ? and e.line_number is not distinct from q.line_number
              and e.reason = q.reason and e.raw_line is not distinct from q.raw_line
        )
        """,
        [source, load_id, now, source],
    )


def _log(con: duckdb.DuckDBPyConnection, result: LoadResult, load_id: str, started_at: datetime) -> None:
    con.execute(
        "insert into raw.load_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, result.source, result.source_kind, result.sha256, result.lines_read, result.accepted,
         result.duplicates, result.quarantined, started_at, utc_now().replace(tzinfo=None)],
    )


def _log_stat(con: duckdb.DuckDBPyConnection, result: LoadResult, load_id: str, file_stat: os.stat_result) -> None:
    con.execute(
        "insert into raw.landed_file_stats values (?, ?, ?, ?, ?, ?)",
        [result.source, result.sha256, file_stat.st_size, file_stat.st_mtime_ns, file_stat.st_ino, load_id],
    )


def _fill_from_file(staging: _Staging, path: Path, now: datetime, *, fast: bool, record_stat: bool = True) -> None:
    """Stage the lines of the gateway file ``path``, reading it once: fingerprinted (SHA-256 of every byte) and
    statted while it is read. ``fast``: with :func:`ingest.files.line_batches`, which raises IrregularFile where
    only the reference reader :func:`ingest.files.lines_of` knows the exact lines (then read it again with that)."""
    with open_regular(path) as handle:
        before = os.fstat(handle.fileno())
        raw = HashingReader(handle)
        with contextlib.closing(decompressed(path, raw)) as stream:
            numbers: list[pa.Array] = []
            texts: list[pa.Array] = []
            pending = 0
            # The batch whose plain lines the checker thread is finding (Arrow's RE2 pass, without the GIL) while
            # this thread stages the batch before it and reads the next: its numbers, texts and the pending check.
            checked: tuple[pa.Array, pa.Array, Future] | None = None

            def stage_checked() -> None:
                nonlocal checked
                if checked is not None:
                    batch_numbers, batch_texts, plain = checked
                    checked = None
                    staging.add_lines(batch_numbers, batch_texts, now, plain.result())

            def stage_pending() -> None:
                nonlocal pending, checked
                if pending:
                    batch_numbers, batch_texts = pa.concat_arrays(numbers), pa.concat_arrays(texts)
                    numbers.clear()
                    texts.clear()
                    pending = 0
                    plain = checker.submit(contract_sql.plain_lines, batch_texts)
                    stage_checked()
                    checked = batch_numbers, batch_texts, plain

            items = line_batches(stream) if fast else _reference_batches(stream)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-check") as checker:
                for item in items:
                    if isinstance(item, BadLine):
                        stage_checked()  # the lines before it staged first, as without the checker thread
                        staging.add(item.number, item.number,
                                    Quarantined(item.number, item.reason, None, item.detail, item.raw))
                        continue
                    numbers.append(item.numbers)
                    texts.append(item.texts)
                    pending += len(item.numbers)
                    if pending >= BATCH_LINES:
                        stage_pending()
                stage_pending()
                stage_checked()
        raw.read_to_end()
        after = os.fstat(handle.fileno())
    staging.result.sha256 = raw.digest.hexdigest()
    # Recorded only if the file held still while it was read: the stat then stands for the content landed.
    still = (before.st_size, before.st_mtime_ns, before.st_ino) == (after.st_size, after.st_mtime_ns, after.st_ino)
    staging.file_stat = after if record_stat and still and raw.size == after.st_size else None


def _reference_batches(stream) -> Iterator[LineBatch | BadLine]:
    """The lines of :func:`ingest.files.lines_of` (the reference reader), in batches like line_batches'."""
    numbers: list[int] = []
    texts: list[str] = []
    for line in lines_of(stream):
        if isinstance(line, BadLine):
            yield line
            continue
        numbers.append(line.number)
        texts.append(line.text)
        if len(numbers) >= BATCH_LINES:
            yield LineBatch(pa.array(numbers, pa.int64()), pa.array(texts, pa.string()))
            numbers, texts = [], []
    if numbers:
        yield LineBatch(pa.array(numbers, pa.int64()), pa.array(texts, pa.string()))


def relative_source(path: Path, data_dir: Path) -> str:
    try:
        return path.resolve().relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


@dataclass(frozen=True)
class _Landing:
    """One landing to do: a file, or the first ``prefix`` bytes of a file that grew after they were landed."""

    order: tuple
    path: Path
    source: str
    sha256: str | None  # None: the file was gone before it could be fingerprinted, or (unread) it is not read yet
    prefix: int | None = None
    unread: bool = False  # fingerprinted while it lands: its content cannot be one the ledger or the log knows
    unchanged: bool = False  # the same size, mtime and inode as when it was landed: skipped without being read


def load_gateway_files(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    *,
    load_id: str,
    files: list[Path] | None = None,
    now: datetime | None = None,
    progress: Progress = lambda message: None,
) -> list[LoadResult]:
    """Land every gateway log file of ``<data_dir>/raw/gateway`` (or ``files``); unchanged files are skipped.

    A file whose size, mtime and inode are those recorded in ``raw.load_log`` when it was landed is skipped
    without being read. Any other file is fingerprinted (SHA-256): one with a content already landed under its
    name is skipped too. A file that can hold no content the warehouse or the ledger knows (a name never landed,
    a size no ledger entry has) is fingerprinted while it lands, so it is read once.

    Which version of an id is billed depends on the order of landing, so that order is kept in the landing
    ledger (:mod:`ingest.ledger`) and replayed: contents the ledger knows (a warehouse rebuilt from the drop zone)
    land first, in ledger order, then the other files in name order (or the order of ``files``). A file that grew
    after it was landed is replayed as it was landed: its earlier content (a prefix with the ledger's SHA-256) at
    its place, the whole file at its own. Each content's first landing is appended to the ledger right after its
    transaction commits; a ledger behind ``raw.load_log`` (a kill in between) is brought up to date first.
    Results are in landing order.
    """
    now = now or utc_now()
    files = list_log_files(gateway_dir(data_dir)) if files is None else list(files)
    ledger_file = ledger.ledger_path(data_dir)
    known = {entry.sha256 for entry in ledger.read_ledger(ledger_file)}
    entries = ledger.reconcile(ledger_file, _landed_files(con, data_dir, unless=known))
    first = ledger.first_sequence(entries)
    already = {
        (source, sha)
        for source, sha in con.execute(
            "select source, sha256 from raw.load_log where source_kind = 'gateway_file'"
        ).fetchall()
    }
    stats = {
        (source, size, mtime_ns, inode): sha
        for source, sha, size, mtime_ns, inode in con.execute(
            "select source, sha256, file_size, file_mtime_ns, file_inode from raw.landed_file_stats"
        ).fetchall()
    }
    landings = _landings(files, data_dir, entries, first, {sha for _, sha in already}, stats,
                         {source for source, _ in already})
    _report_ledger(ledger_file, entries, {sha for _, sha in already}, landings, first, progress)
    with _one_checkpoint(con):
        return _land_all(con, landings, already, first, entries, ledger_file, load_id=load_id, now=now,
                         progress=progress)


# Files landed in one transaction (and one decision of their lines' outcomes), up to this many bytes of content
# (a .gz file counts GZIP_FACTOR times its size): fewer commits and fewer passes over the landed ids, while a kill
# still leaves whole files or nothing. Measured at 1M requests (31 files, 230 MB): 9.9 CPU s one file per
# transaction, 7.5 in one. Memory is bounded by GROUP_MEMORY_LIMIT (the staging table spills beyond it); a file
# larger than this lands alone, within LANDING_MEMORY_LIMIT.
GROUP_BYTES = 256 << 20
GZIP_FACTOR = 8


def _land_all(
    con: duckdb.DuckDBPyConnection,
    landings: list[_Landing],
    already: set[tuple[str, str]],
    first: dict[str, int],
    entries: list[ledger.LedgerEntry],
    ledger_file: Path,
    *,
    load_id: str,
    now: datetime,
    progress: Progress,
) -> list[LoadResult]:
    """Land ``landings`` in order: consecutive files together, in transactions of up to ``GROUP_BYTES`` (one file
    per transaction while the Parquet mirror is on, and for a file's earlier content); the ledger is appended right
    after each commit. A file is read once: fast (:func:`ingest.files.line_batches`), or, where it holds what only
    the reference reader reads exactly (a line over the limit, a damaged gzip stream), read again with that, in a
    transaction of its own."""
    results: list[LoadResult] = []
    group: list[tuple[int, _Landing]] = []
    group_bytes = 0
    budget = 0 if raw_parquet.enabled() else GROUP_BYTES

    def label(landing: _Landing) -> str:
        if landing.prefix is None:
            return landing.source
        return f"{landing.source} (its first {landing.prefix:,} bytes, as first landed)"

    def gone(index: int, landing: _Landing) -> None:
        # Moved or deleted since the folder was listed (nothing of it was written): the next run sees it or not.
        progress(f"[{index}/{len(landings)}] {label(landing)}: gone before it could be read; skipped")
        results.append(LoadResult(source=landing.source, source_kind="gateway_file", skipped=True))

    def committed(landed: list[tuple[int, _Landing]], landed_results: list[LoadResult]) -> None:
        new = []
        for (_, landing), result in zip(landed, landed_results, strict=True):
            already.add((landing.source, result.sha256))
            if result.sha256 not in first and all(entry[0] != result.sha256 for entry in new):
                size = landing.prefix if landing.prefix is not None else _size_or_none(landing.path)
                new.append((result.sha256, landing.source, size, result.lines_read, _ledger_time(utc_now())))
        appended = ledger.append(ledger_file, new, after=entries)
        entries.extend(appended)
        for entry in appended:
            first.setdefault(entry.sha256, entry.sequence)
        for (index, landing), result in zip(landed, landed_results, strict=True):
            results.append(result)
            progress(
                f"[{index}/{len(landings)}] {label(landing)}: {result.lines_read} lines, {result.accepted} new, "
                f"{result.duplicates} duplicates, {result.quarantined} quarantined"
                + (f" ({dict(result.reasons)})" if result.reasons else "")
            )

    def land(landed: list[tuple[int, _Landing]]) -> None:
        """Land files in one transaction; one at a time when one of them is gone or needs the reference reader."""
        for fast in (True, False):
            try:
                with contextlib.ExitStack() as stack:
                    parts = []
                    for _, landing in landed:
                        path = stack.enter_context(_prefix_of(con, landing))
                        parts.append(_Part(landing.source, "gateway_file", functools.partial(
                            _fill_from_file, path=path, now=now, fast=fast, record_stat=landing.prefix is None)))
                    landed_results = _land(con, parts, load_id=load_id)
            except (FileNotFoundError, IrregularFile) as error:
                if len(landed) > 1:  # rolled back: each file in a transaction of its own
                    for item in landed:
                        land([item])
                    return
                if isinstance(error, IrregularFile):  # read it again with the reference reader
                    continue
                gone(*landed[0])
                return
            committed(landed, landed_results)
            return
        raise AssertionError("unreachable: the reference reader never raises IrregularFile")

    def flush() -> None:
        nonlocal group_bytes
        if group:
            land(list(group))
            group.clear()
            group_bytes = 0

    for index, landing in enumerate(landings, start=1):
        source, sha = landing.source, landing.sha256
        if sha is not None and any((other.source, other.sha256) == (source, sha) for _, other in group):
            flush()  # the same content again: skipped once the first has landed
        if sha is None and not landing.unread:
            flush()
            gone(index, landing)
            continue
        if (source, sha) in already:
            flush()
            results.append(LoadResult(source=source, source_kind="gateway_file", skipped=True, sha256=sha))
            continue
        if landing.prefix is not None:
            flush()
            land([(index, landing)])
            continue
        size = (_size_or_none(landing.path) or 0) * (GZIP_FACTOR if landing.path.name.endswith(".gz") else 1)
        if group and group_bytes + size > budget:
            flush()
        group.append((index, landing))
        group_bytes += size
    flush()
    return results


def _landings(
    files: list[Path],
    data_dir: Path,
    entries: list[ledger.LedgerEntry],
    first: dict[str, int],
    landed: set[str],
    stats: dict[tuple, str],
    sources: set[str],
) -> list[_Landing]:
    """The landings to do, in order: ledger order for contents the ledger knows, then the given order. ``stats``:
    the contents landed, by (source, size, mtime_ns, inode); ``sources``: the files landed before, by name."""
    earlier: dict[str, list[ledger.LedgerEntry]] = {}
    for entry in entries:
        if entry.sha256 not in landed and entry.bytes and first[entry.sha256] == entry.sequence:
            earlier.setdefault(entry.file, []).append(entry)
    sizes = {entry.bytes for entry in entries}  # None among them: an entry of unknown size, which any file may be
    landings = []
    for position, path in enumerate(files):
        source = relative_source(path, data_dir)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None
        if info is not None and (source, info.st_size, info.st_mtime_ns, info.st_ino) in stats:
            sha = stats[(source, info.st_size, info.st_mtime_ns, info.st_ino)]
            landings.append(_Landing((1, 0, position), path, source, sha, unchanged=True))
            continue
        if (info is not None and source not in sources and source not in earlier and info.st_size not in sizes
                and None not in sizes):
            landings.append(_Landing((1, 0, position), path, source, None, unread=True))
            continue
        sha = _fingerprint_or_none(path)
        order = (0, first[sha], position) if sha in first else (1, 0, position)
        landings.append(_Landing(order, path, source, sha))
        for entry in earlier.get(source, []) if sha is not None else []:
            # An earlier version of this file, landed before and not in this warehouse: is it a prefix of it?
            if entry.sha256 != sha and _prefix_fingerprint(path, entry.bytes) == entry.sha256:
                landings.append(_Landing((0, entry.sequence, position), path, source, entry.sha256, entry.bytes))
    return sorted(landings, key=lambda landing: landing.order)


@contextmanager
def _prefix_of(con: duckdb.DuckDBPyConnection, landing: _Landing) -> Iterator[Path]:
    """The file to read for a landing: the file itself, or a scratch copy of its first ``prefix`` bytes."""
    if landing.prefix is None:
        yield landing.path
        return
    with _scratch(con) as scratch, open_regular(landing.path) as source:
        copy = scratch / landing.path.name  # the same suffix: a .gz prefix is read as gzip
        with copy.open("wb") as target:
            left = landing.prefix
            while left:
                chunk = source.read(min(left, 1 << 20))
                if not chunk:
                    raise FileNotFoundError(landing.path)  # shrank since it was fingerprinted
                target.write(chunk)
                left -= len(chunk)
        yield copy


def _fingerprint_or_none(path: Path) -> str | None:
    try:
        return file_fingerprint(path)
    except FileNotFoundError:
        return None


def _prefix_fingerprint(path: Path, size: int) -> str | None:
    """SHA-256 of the first ``size`` bytes of ``path``; None when it is shorter or gone."""
    digest, left = hashlib.sha256(), size
    try:
        with open_regular(path) as handle:
            while left:
                chunk = handle.read(min(left, 1 << 20))
                if not chunk:
                    return None
                digest.update(chunk)
                left -= len(chunk)
    except FileNotFoundError:  # gone, or no longer a regular file (NotARegularFile)
        return None
    return digest.hexdigest()


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _ledger_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _landed_files(
    con: duckdb.DuckDBPyConnection, data_dir: Path, *, unless: set[str]
) -> list[tuple[str, str, int | None, int, str]]:
    """The gateway files the warehouse landed whose content is not in ``unless``, in landing order, as ledger
    entries (with the size only where the file is still there with that content)."""
    landed = []
    for sha, source, lines, finished_at in con.execute(
        """
        select sha256, source, lines_read, finished_at from raw.load_log
        where source_kind = 'gateway_file' and sha256 is not null
        order by rowid
        """
    ).fetchall():
        if sha in unless:
            continue
        path = data_dir / source
        size = _size_or_none(path) if path.is_file() and _fingerprint_or_none(path) == sha else None
        landed.append((sha, source, size, lines, _ledger_time(finished_at.replace(tzinfo=timezone.utc))))
    return landed


def _report_ledger(
    ledger_file: Path,
    entries: list[ledger.LedgerEntry],
    landed: set[str],
    landings: list[_Landing],
    first: dict[str, int],
    progress: Progress,
) -> None:
    """Say when files land in ledger order rather than name order, and when the ledger names contents that are
    neither in the warehouse nor in the drop zone (the bills that used them cannot be rebuilt without them)."""
    replayed = sum(1 for landing in landings if landing.sha256 in first and landing.sha256 not in landed)
    if replayed:
        progress(f"{ledger_file}: {replayed} files landed before land again in the order they first landed")
    present = {landing.sha256 for landing in landings}
    missing = [entry for entry in entries if entry.sha256 not in landed and entry.sha256 not in present]
    if missing:
        progress(
            f"{ledger_file}: {len(missing)} files landed before are neither in the warehouse nor in the drop zone "
            f"(first: #{missing[0].sequence} {missing[0].file}, sha256 {missing[0].sha256[:12]}...): bills that "
            "used them cannot be rebuilt exactly; put them back in the drop zone"
        )


USER_COLUMNS = ("id", "email", "created_at", "plan")


def _validate_user(row: dict, line: int) -> tuple:
    values = {}
    for column in USER_COLUMNS:
        value = row.get(column)
        if value is None or not str(value).strip():
            raise BadRecord("missing_field", column, f"required column {column!r} is empty")
        values[column] = str(value).strip()
    if "@" not in values["email"]:
        raise BadRecord("out_of_range", "email", f"email {values['email'][:80]!r} is not an e-mail address")
    created_at = parse_timestamp(values["created_at"], "created_at")
    return values["id"], values["email"], created_at, values["plan"].lower(), line


def load_users(
    con: duckdb.DuckDBPyConnection, data_dir: Path, *, load_id: str, path: Path | None = None
) -> LoadResult | None:
    """Replace ``raw.users`` with the users export (a full snapshot); bad rows go to quarantine.

    Returns None when there is no export: the table is left as it is. An export with the bytes of the last one landed
    from the same path (its SHA-256 in ``raw.load_log``; that load, its rows and its quarantine were one transaction)
    is not loaded again: loading it would change nothing but the load times. The result is then ``skipped``, with
    ``unchanged_since`` naming that load and no lines counted (as a skipped gateway file).
    """
    path = path or data_dir / "raw" / "users.csv"
    if not path.is_file():
        return None
    source = relative_source(path, data_dir)
    with open_regular(path) as handle:
        raw_bytes = handle.read()
    result = LoadResult(source=source, source_kind="users_export", sha256=hashlib.sha256(raw_bytes).hexdigest())
    last = con.execute(
        "select load_id, sha256 from raw.load_log where source_kind = 'users_export' and source = ? "
        "order by finished_at desc limit 1", [source]).fetchone()
    if last is not None and last[1] == result.sha256:
        result.skipped, result.unchanged_since = True, last[0]
        return result
    started_at = utc_now().replace(tzinfo=None)
    rows: dict[str, tuple] = {}
    bad: list[Quarantined] = []
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = raw_bytes.decode("utf-8-sig", errors="replace")
        bad.append(Quarantined(None, "invalid_utf8", None, f"the export is not UTF-8 ({error.reason}); "
                               "undecodable bytes were replaced", ""))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [column for column in USER_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(
            f"{path}: line 1: the header {reader.fieldnames} lacks the columns {missing}; "
            f"the users export needs the header {','.join(USER_COLUMNS)}"
        )
    for row in reader:
        line = reader.line_num
        result.lines_read += 1
        raw_line = ",".join(str(row.get(column) or "") for column in reader.fieldnames or [])
        try:
            user = _validate_user(row, line)
        except BadRecord as error:
            bad.append(Quarantined(line, error.reason, error.field, error.detail, raw_line, row.get("id")))
            continue
        if user[0] in rows:
            bad.append(Quarantined(line, "conflicting_duplicate", "id",
                                   f"user id {user[0]!r} already on line {rows[user[0]][4]}; the first is kept",
                                   raw_line, user[0]))
            continue
        rows[user[0]] = user
    con.execute("begin transaction")
    try:
        con.execute("delete from raw.users")
        users = pa.Table.from_pylist(
            [dict(zip((*USER_COLUMNS, "source_line"), user, strict=True)) for user in rows.values()],
            schema=pa.schema([("id", pa.string()), ("email", pa.string()), ("created_at", pa.timestamp("us")),
                              ("plan", pa.string()), ("source_line", pa.int64())]),
        )
        con.register("incoming_users", users)
        con.execute("insert into raw.users select *, ? from incoming_users", [started_at])
        con.unregister("incoming_users")
        _write_quarantine(con, source, bad, load_id)
        result.accepted = len(rows)
        result.quarantined = len(bad)
        result.reasons.update(item.reason for item in bad)
        # A file-level problem (bad encoding) is not a line: keep the balance about lines.
        result.lines_read += sum(1 for item in bad if item.line_number is None)
        _log(con, result, load_id, started_at)
        raw_parquet.commit(con)  # commit + the Parquet mirror (users snapshot)
    except BaseException:
        con.execute("rollback")
        raise
    return result
