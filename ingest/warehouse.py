"""Landing raw data in the DuckDB warehouse: the ``raw`` schema, exactly once, with nothing lost.

Every line read ends in exactly one of three places, and ``raw.load_log`` records the counts per source so that
``lines_read = accepted + duplicates + quarantined`` can be checked:
- ``raw.gateway_requests``: the first version of each request id (the dedupe key of the contract);
- a duplicate: the same id with the same billing content, already landed (counted, not stored again);
- ``raw.quarantine``: anything else, with the reason, the source (file or API pull), the line and the field.

Each source is landed in one transaction: a run killed half-way leaves whole sources or nothing behind.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.contract import (
    RECORD_COLUMNS,
    BadRecord,
    GatewayRequest,
    clean_text,
    parse_timestamp,
    validate_record,
)
from ingest.files import BadLine, Line, file_fingerprint, gateway_dir, list_log_files, read_lines

Progress = Callable[[str], None]

RAW_DDL = """
create schema if not exists raw;
create table if not exists raw.gateway_requests (
    id varchar not null,
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
    record_hash varchar not null,
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
create table if not exists raw.users (
    id varchar not null,
    email varchar not null,
    created_at timestamp not null,          -- UTC
    plan varchar not null,
    source_line bigint,
    loaded_at timestamp not null
);
"""

_DECIMAL = pa.decimal128(38, 12)
_ARROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("user_id", pa.string()),
        ("model", pa.string()),
        ("status_code", pa.int32()),
        *[(name, pa.int64()) for name in RECORD_COLUMNS[5:11]],
        ("service_tier", pa.string()),
        ("total_cost", _DECIMAL),
        ("record_hash", pa.string()),
        ("source_line", pa.int64()),
    ]
)
RAW_PREVIEW_CHARS = 1000


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


def parse_line(text: str, *, now: datetime) -> GatewayRequest:
    try:
        value = json.loads(text, parse_float=Decimal)
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

    ``items`` yields ``(line_number, request_or_quarantined)``; it is read whole before anything is written, so
    an error while producing it leaves the warehouse untouched. The version of an id already in the warehouse,
    else the first version in this source, is the one kept: every other line with that id is a duplicate when
    its billing content is the same and is quarantined as ``conflicting_duplicate`` when it differs.
    """
    result = LoadResult(source=source, source_kind=source_kind, sha256=sha256)
    started_at = utc_now().replace(tzinfo=None)
    versions: dict[str, list[tuple[int | None, GatewayRequest]]] = {}
    bad: list[Quarantined] = []
    for line_number, item in items:
        result.lines_read += 1
        if isinstance(item, Quarantined):
            bad.append(item)
        else:
            versions.setdefault(item.id, []).append((line_number, item))

    con.execute("begin transaction")
    try:
        con.register("incoming_ids", pa.table({"id": pa.array(list(versions), pa.string())}))
        landed = {
            request_id: (record_hash, f"{other_source} line {other_line}")
            for request_id, record_hash, other_source, other_line in con.execute(
                """
                select r.id, r.record_hash, r.source, r.source_line
                from raw.gateway_requests as r semi join incoming_ids as b on b.id = r.id
                """
            ).fetchall()
        }
        con.unregister("incoming_ids")
        new_rows = []
        for request_id, seen in versions.items():
            first_line, first = seen[0]
            kept_hash, kept_at = landed.get(request_id, (first.record_hash, f"line {first_line} of the same source"))
            for position, (line_number, request) in enumerate(seen):
                if position == 0 and request_id not in landed:
                    new_rows.append(dict(zip(RECORD_COLUMNS, request.as_row(), strict=True), source_line=line_number))
                elif request.record_hash == kept_hash:
                    result.duplicates += 1
                else:
                    bad.append(_conflict(line_number, request, kept_at))
        con.register("incoming_batch", pa.Table.from_pylist(new_rows, schema=_ARROW_SCHEMA))
        inserted = con.execute(
            """
            insert into raw.gateway_requests
            select
                b.id, b.created_at, b.user_id, b.model, b.status_code,
                b.native_tokens_prompt, b.native_tokens_completion, b.native_tokens_cached,
                b.native_tokens_cache_creation, b.native_tokens_reasoning,
                b.total_cost, b.record_hash, ?, b.source_line, ?, ?,
                b.native_tokens_cache_creation_1h, b.service_tier
            from incoming_batch as b
            """,
            [source, load_id, started_at],
        ).fetchone()[0]
        con.unregister("incoming_batch")
        result.accepted = inserted
        _write_quarantine(con, source, bad, load_id)
        result.quarantined = len(bad)
        result.reasons.update(item.reason for item in bad)
        if not result.balanced:  # cannot happen by construction; never commit a load that does not add up
            raise AssertionError(f"{source}: the counts do not add up: {result}")
        _log(con, result, load_id, started_at)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result


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
        schema=pa.schema(
            [("line_number", pa.int64()), ("reason", pa.string()), ("field", pa.string()),
             ("detail", pa.string()), ("raw_line", pa.string()), ("request_id", pa.string())]
        ),
    )
    con.register("incoming_quarantine", rows)
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
    con.unregister("incoming_quarantine")


def _log(con: duckdb.DuckDBPyConnection, result: LoadResult, load_id: str, started_at: datetime) -> None:
    con.execute(
        "insert into raw.load_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, result.source, result.source_kind, result.sha256, result.lines_read, result.accepted,
         result.duplicates, result.quarantined, started_at, utc_now().replace(tzinfo=None)],
    )


def _file_items(path: Path, now: datetime) -> Iterable[tuple[int | None, GatewayRequest | Quarantined]]:
    for line in read_lines(path):
        if isinstance(line, BadLine):
            yield line.number, Quarantined(line.number, line.reason, None, line.detail, line.raw)
            continue
        assert isinstance(line, Line)
        try:
            yield line.number, parse_line(line.text, now=now)
        except BadRecord as error:
            yield line.number, Quarantined(
                line.number, error.reason, error.field, error.detail, line.text[:RAW_PREVIEW_CHARS],
                _record_id(line.text) if error.reason != "not_json" else None,
            )


def relative_source(path: Path, data_dir: Path) -> str:
    try:
        return path.resolve().relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def load_gateway_files(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    *,
    load_id: str,
    files: list[Path] | None = None,
    now: datetime | None = None,
    progress: Progress = lambda message: None,
) -> list[LoadResult]:
    """Land every gateway log file of ``<data_dir>/raw/gateway`` (or ``files``); unchanged files are skipped."""
    now = now or utc_now()
    files = list_log_files(gateway_dir(data_dir)) if files is None else files
    already = {
        (source, sha)
        for source, sha in con.execute(
            "select source, sha256 from raw.load_log where source_kind = 'gateway_file'"
        ).fetchall()
    }
    results = []
    for index, path in enumerate(files, start=1):
        source = relative_source(path, data_dir)
        try:
            sha = file_fingerprint(path)
            if (source, sha) in already:
                results.append(LoadResult(source=source, source_kind="gateway_file", skipped=True, sha256=sha))
                continue
            result = land_requests(
                con, source=source, source_kind="gateway_file", items=_file_items(path, now), load_id=load_id,
                sha256=sha,
            )
        except FileNotFoundError:
            # Moved or deleted since the folder was listed (nothing of it was written): the next run sees it or not.
            progress(f"[{index}/{len(files)}] {source}: gone before it could be read; skipped")
            results.append(LoadResult(source=source, source_kind="gateway_file", skipped=True))
            continue
        results.append(result)
        progress(
            f"[{index}/{len(files)}] {source}: {result.lines_read} lines, {result.accepted} new, "
            f"{result.duplicates} duplicates, {result.quarantined} quarantined"
            + (f" ({dict(result.reasons)})" if result.reasons else "")
        )
    return results


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

    Returns None when there is no export: the table is left as it is.
    """
    path = path or data_dir / "raw" / "users.csv"
    if not path.is_file():
        return None
    source = relative_source(path, data_dir)
    result = LoadResult(source=source, source_kind="users_export", sha256=file_fingerprint(path))
    started_at = utc_now().replace(tzinfo=None)
    rows: dict[str, tuple] = {}
    bad: list[Quarantined] = []
    raw_bytes = path.read_bytes()
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
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result
