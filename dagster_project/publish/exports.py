"""Finance exports: the revenue tables as Parquet and CSV, one file per month, under `<data dir>/exports/`.

    exports/daily_revenue/<YYYY-MM>.{parquet,csv}             one row per day (ai_revenue_analytics)
    exports/monthly_revenue_by_model/<YYYY-MM>.{parquet,csv}  one row per provider and model in the month
    exports/user_statements/<YYYY-MM>.{parquet,csv}           one row per user in the month: the statement total
    exports/user_statement_totals/<YYYY-MM>.{parquet,csv}     one row: the month's statements, exact and rounded
    exports/user_statement_lines/<YYYY-MM>.{parquet,csv}      the requests each statement is the sum of

Each is a copy of the finance mart of the same name (dbt_project/models/marts/finance), cut by month: this module
decides nothing about the figures, only the file format.

Money stays exact: DECIMAL(38,12) in the warehouse, decimal128(38, 12) in Parquet, and the decimal written out in
full (12 places, no float, no exponent) in CSV; the amounts rounded to cents (`*_rounded_usd`, DECIMAL(38,2)) keep
their 2 places. Every row carries its period (`period_month`, `period_start_date`, `period_end_date`) and
`is_provisional` (the running month); the file is picked by `period_month`. Months are UTC calendar months of the
request's created_at (daily_revenue: of the mart's `date`). Timestamps are UTC with the zone: TIMESTAMPTZ in the
marts, timestamp[us, tz=UTC] in Parquet, ISO 8601 with `Z` in CSV; a timestamp without a zone is refused.

CSV injection (OWASP): a spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a
formula (`=HYPERLINK(...)`, `@SUM(...)`), and user ids and e-mails are whatever users typed. In CSV, every text value
(ids, e-mails, plans, providers, models) that starts with one of those gets a leading single quote `'`; numbers
(money, counts), booleans and dates are written as they are, so `-0.4514` stays a number and sums stay exact. Parquet
keeps every value as it is (it holds types, not formulas).

A month whose rows did not change keeps its files, unread: `<data dir>/exports.state.json` (beside the folder) holds,
per table and month, a fingerprint of its rows (their count and the sum of the rows' hashes, every column included:
`is_provisional` too) and the size, mtime and inode of both files as written, for this module's version. A month is
written again when its fingerprint changed, when either file is not the one written (edited, deleted, or rewritten by
a run killed before it recorded the state), or when this module changed. The state is written after the files.

The request lines grow by a day at a time: the state also holds each month's latest `created_at`. When the rows up to
it are the ones written (their count and fingerprint, taken in the same scan) and the files are as written, the new
rows are all later, so in the file's order each user's new lines follow their old ones: the month's files are then
built from the old files and the new rows (`_append`), the same bytes as a full rewrite. Anything else (a late or
re-priced row, a changed `is_provisional`, a file not as written, a line break in a quoted cell, this module
changed) writes the month whole.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dagster_project.publish.files import stat_key, write_atomic, write_text_atomic
from ingest.warehouse import duckdb_setting

STATE_FILE = "exports.state.json"  # beside the exports folder, not in it (finance tools read the folder)

# A text cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# Export name -> the order of its rows. Each export is the finance mart of the same name
# (dbt_project/models/marts/finance: what is in a statement, what a month's revenue is, is decided there); every one
# has a `period_month` column (YYYY-MM) that picks the file.
EXPORT_ORDER: dict[str, str] = {
    "daily_revenue": "date",
    "monthly_revenue_by_model": "period_month, provider, model",
    "user_statements": "period_month, user_id",
    "user_statement_totals": "period_month",
    "user_statement_lines": "period_month, user_id, created_at, request_id",
}
# The exports with a row per request: a run reads only the months whose fingerprint changed. The others have a row
# per day, model, user or month (a few per request at most): a run reads them whole, once, and fingerprints what it
# read, instead of reading the view (which sums every request of history) once to fingerprint and again to write.
PER_REQUEST = frozenset({"user_statement_lines"})
# The exports whose month grows by appending: (the column the file is grouped by, the column the rows are added in).
# When a month's rows up to the last run's latest `created_at` are the ones written (their count and fingerprint)
# and every other row is later, the file in the new order is, per user, the rows written followed by the new ones:
# its files are built from the old ones and the new rows, without reading and sorting the month again (_append).
APPEND_ORDER: dict[str, tuple[str, str]] = {"user_statement_lines": ("user_id", "created_at")}
APPEND_SLICE = 2 * 122_880  # rows of the old file read at a time (4 row groups: 1.85 GiB peak at 5M, 2: 1.6)
# DuckDB's memory while a month is appended (its tables spill to the data dir beyond it): the merge holds the new
# order's index arrays and slices of rows in Python besides (about 650 MB at 10M requests). With the connection's
# 1 GiB the call peaked at 1.86-1.89 GiB at 10M (a full rewrite 1.22); held to 400 MB, 1.24 GiB, 31.2 CPU s
# against 27.5-29.6 (the full rewrite 43.7-46.9)
APPEND_MEMORY_LIMIT = "400MB"
ROW_GROUP = 122_880  # rows: DuckDB's row group, in its tables and in the Parquet files it writes
EXPORT_QUERIES: dict[str, str] = {name: f"select * from main.{name} order by {order}"
                                  for name, order in EXPORT_ORDER.items()}


@dataclass(frozen=True)
class ExportFile:
    table: str
    month: str
    rows: int
    parquet: Path
    csv: Path
    written: bool = True  # False: its rows did not change since the last run, which wrote these files
    appended: bool = False  # True: written from its old files and the new rows (`_append`), not read and sorted again


def neutralise_formula(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet runs: a leading ``'`` when it starts with a formula trigger."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# The triggers as SQL: their code points, to compare with ascii() of the text (the code point of its first character;
# at 5M requests a tenth cheaper in the CSV than comparing left(text, 1), which makes a string per cell).
TRIGGERS_SQL = ", ".join(str(ord(char)) for char in FORMULA_TRIGGERS)


def _money_type(name: str, kind: str) -> str:
    """DECIMAL(38, 2) for an amount rounded to cents (`*_rounded_usd`), else DECIMAL(38, 12)."""
    return "decimal(38, 2)" if name.endswith("_rounded_usd") else "decimal(38, 12)"


def _money_text(column: str, money_type: str) -> str:
    """The exact text of a DECIMAL(38, s) amount, every place written. DuckDB spells a DECIMAL(18, s) (a 64-bit
    integer) about twice as fast as a DECIMAL(38, s) (128-bit) and with the same text, so an amount that fits in
    18 digits goes through it; a larger one is spelled as it is."""
    scale = int(money_type.rstrip(")").rsplit(",", 1)[1])
    bound = "9" * (18 - scale) + "." + "9" * scale
    exact = f"cast({column} as {money_type})"
    return (f"case when {exact} between -{bound} and {bound} then cast(cast({exact} as decimal(18, {scale})) "
            f"as varchar) else cast({exact} as varchar) end")


def _parquet_column(name: str, kind: str) -> str:
    """Money columns (`*_usd`) as DECIMAL(38, 12) (decimal128(38, 12) in Parquet; rounded amounts decimal128(38, 2)),
    whatever the query returned; timestamps with their zone as UTC."""
    column = _quoted(name)
    if name.endswith("_usd"):
        return f"cast({column} as {_money_type(name, kind)}) as {column}"
    return column


def _csv_column(name: str, kind: str) -> str:
    """The column as the text of its CSV cell (see the module docstring): decimals with every digit (12 places for
    money), timestamps ISO 8601 (`T`, microseconds only when there are some), null and the empty string both an
    empty cell, text that a spreadsheet would run as a formula prefixed with ``'``. DuckDB's CSV writer then quotes
    a cell holding a comma, a quote, CR or LF (RFC 4180), and writes booleans as true/false."""
    column = _quoted(name)
    if name.endswith("_usd"):
        return f"{_money_text(column, _money_type(name, kind))} as {column}"
    if kind == "VARCHAR":
        return (f"case when {column} = '' then null when ascii({column}) in ({TRIGGERS_SQL}) "
                f"then chr(39) || {column} else {column} end as {column}")
    if kind == "TIMESTAMP WITH TIME ZONE":
        # the instant's microseconds since the epoch as a plain (UTC) timestamp: no time zone library on the way
        # (timezone('UTC', ...) costs 2.5 times as much), one strftime
        micros = f"epoch_us({column})"
        utc = f"make_timestamp({micros})"
        return (f"case when {micros} % 1000000 <> 0 then strftime({utc}, '%Y-%m-%dT%H:%M:%S.%fZ') "
                f"else strftime({utc}, '%Y-%m-%dT%H:%M:%SZ') end as {column}")
    if kind.startswith(("TIMESTAMP", "TIME")):
        raise TypeError(f"export column {name} is {kind}: make it TIMESTAMPTZ (UTC, with its zone) in the mart, or "
                        "spell out its CSV text in exports.py, before exporting it")
    return column


def _copy(con: duckdb.DuckDBPyConnection, select: str, path: Path, options: str) -> Path:
    return write_atomic(path, lambda tmp: con.execute(f"copy ({select}) to {_literal(str(tmp))} ({options})"))


def _read_state(path: Path, version: str) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or damaged: write every month
        return {}
    return state.get("months", {}) if isinstance(state, dict) and state.get("version") == version else {}


def _version() -> str:
    """Changes with this module's code (formats, columns, order): every month is written again."""
    return hashlib.sha256(inspect.getsource(sys.modules[__name__]).encode("utf-8")).hexdigest()[:16]


def _order_within_month(name: str) -> str:
    """The ORDER BY of one month's file: EXPORT_ORDER without period_month, which every row of the file shares
    (a sort on a key that never differs costs a third of the sort of user_statement_lines, for the same order)."""
    keys = [key.strip() for key in EXPORT_ORDER[name].split(",") if key.strip() != "period_month"]
    return f" order by {', '.join(keys)}" if keys else ""


# The columns every export carries its period in: one value per month (the file), whatever the row.
PERIOD_COLUMNS = ("period_month", "period_start_date", "period_end_date", "is_provisional")
PERIOD_KINDS = frozenset({"VARCHAR", "DATE", "BOOLEAN"})


@dataclass(frozen=True)
class _Month:
    month: str
    rows: int
    fingerprint: str
    values: dict[str, object]  # period column -> its one value in the month (not null); absent: several, or a null
    last: int | None = None  # an appended export (APPEND_ORDER): its latest instant, microseconds since the epoch
    # ... and the count and fingerprint of its rows up to the last run's latest instant (when the last run had one)
    rows_before: int | None = None
    fingerprint_before: str | None = None


def _fingerprints(con: duckdb.DuckDBPyConnection, relation: str, period: list[str], time: str | None = None,
                  before: dict[str, int] | None = None) -> list[_Month]:
    """Per month of `relation`: its rows, the sum of the rows' hashes (every column; order does not matter) and the
    value of each `period` column that has one value in the month, not null. With a `time` column: its latest
    instant per month, and for the months of `before` (month -> an instant) the count and hash sum of the rows up
    to that instant, in the same scan."""
    checks = "".join(f", min({_quoted(c)}), max({_quoted(c)}), count({_quoted(c)})" for c in period)
    digest = "sum(cast(hash(t) as hugeint))"
    extra = 0
    if time is not None:
        instant = f"epoch_us({_quoted(time)})"
        checks += f", max({instant})"
        extra = 1
        if before:
            cutoff = "case period_month " + " ".join(f"when {_literal(month)} then {int(last)}"
                                                     for month, last in before.items()) + " end"
            checks += (f", count(*) filter (where {instant} <= {cutoff}), "
                       f"cast({digest} filter (where {instant} <= {cutoff}) as varchar)")
            extra = 3
    months = []
    for month, rows, fingerprint, *values in con.execute(
            f"select period_month, count(*), cast({digest} as varchar){checks} "
            f"from {relation} as t group by period_month order by period_month").fetchall():
        one = {c: values[3 * i] for i, c in enumerate(period)
               if values[3 * i] == values[3 * i + 1] and values[3 * i + 2] == rows}
        tail = values[3 * len(period):]
        last, rows_before, fingerprint_before = (tail + [None, None, None])[:3] if extra else (None, None, None)
        months.append(_Month(month, rows, fingerprint, one, last, rows_before, fingerprint_before))
    return months


def _constants(name: str, columns: list[tuple[str, str]], months: list[_Month]) -> dict[str, str]:
    """The period columns to leave out of the sort of `months` (their rows, in one temporary table), each with its
    SQL per month: those with one value, not null, in every month (so the Parquet schema still says "not null"
    exactly when it did for the stored column), and period_month only when there is one month (else the months
    are told apart by it)."""
    order = [key.strip() for key in EXPORT_ORDER[name].split(",")]
    constants = {}
    for column, kind in columns:
        if column in PERIOD_COLUMNS and kind in PERIOD_KINDS and (column not in order or column == "period_month") \
                and all(column in month.values for month in months):
            constants[column] = kind
    if len(months) > 1:
        constants.pop("period_month", None)
    if len(constants) == len(columns):  # nothing left to store: keep one
        constants.pop(columns[0][0])
    return constants


def _month_columns(columns: list[tuple[str, str]], constants: dict[str, str], month: _Month) -> str:
    """The select list of `month`'s rows, in the export's column order: each column left out of the stored rows as a
    constant (`_constants`) is put back as the month's one value."""
    return ", ".join(f"cast({_literal(str(month.values[column]))} as {kind}) as {_quoted(column)}"
                     if column in constants else _quoted(column) for column, kind in columns)


def _runs(values: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray, np.ndarray] | None:
    """The runs of equal values of a column in its order: (each run's value, its first row, its length); None when
    it holds a null."""
    column = values.combine_chunks()
    if column.null_count:
        return None
    if len(column) == 0:
        return column, np.zeros(0, np.int64), np.zeros(0, np.int64)
    changes = pc.not_equal(column[1:], column[:-1]).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(changes) + 1]).astype(np.int64)
    return column.take(pa.array(starts)), starts, np.diff(np.append(starts, len(column)))


def _line_ends(path: Path, lines: int) -> np.ndarray | None:
    """The offset of each of the `lines` line feeds of the file, which must end with one; None when the count
    differs (a quoted cell holding a line break: a row is then not a line)."""
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        # read in pieces into one buffer (a memory map would count the whole file in the process's memory)
        buffer = np.empty(min(size, 1 << 26), np.uint8)
        ends, found, offset = np.empty(lines, np.int64), 0, 0
        while offset < size:
            read = f.readinto(memoryview(buffer))
            if not read:
                return None
            feeds = np.flatnonzero(buffer[:read] == 10)
            if found + len(feeds) > lines:
                return None
            ends[found:found + len(feeds)] = feeds + offset
            found, offset = found + len(feeds), offset + read
    return ends if found == lines and ends[-1] == size - 1 else None


def _copy_range(source: int, target: int, start: int, end: int) -> None:
    while start < end:
        copied = os.copy_file_range(source, target, end - start, start)
        if copied <= 0:
            raise OSError(f"copy_file_range copied nothing at {start} of {end}")
        start += copied


def _write_all(target: int, data: memoryview) -> None:
    while data:
        data = data[os.write(target, data):]


class _NotAppendable(Exception):
    """The old file's rows are not what its state says."""


def _append(con: duckdb.DuckDBPyConnection, name: str, columns: list[tuple[str, str]], month: _Month,
            last_run: dict, files: tuple[Path, Path]) -> bool:
    """Write `month` of an appended export (APPEND_ORDER) from its files as the last run wrote them and its rows
    after the last run's latest instant, when the caller found its earlier rows unchanged (their count and
    fingerprint): per group (user), its rows written followed by its new rows, which is the export's order because
    every new row is later. The Parquet file is written again by DuckDB, as a full rewrite would, from the old
    file's rows and the new ones put in that order (Arrow's take, no sort); the CSV file is the old file's lines,
    copied as bytes, with the new rows' lines (written by DuckDB as a full rewrite would) inserted after each
    group's. Returns False, having written nothing, when anything does not add up (the files' columns or rows, a
    null group, a line break in a quoted cell, groups out of order): the caller then writes the month whole."""
    group, time = APPEND_ORDER[name]
    parquet_path, csv_path = files
    constants = _constants(name, columns, [month])
    kept = [column for column, _ in columns if column not in constants]
    old_rows, new_rows = last_run["rows"], month.rows - last_run["rows"]
    if group not in kept or any(column not in month.values for column in constants):
        return False
    try:
        stored = pq.ParquetFile(parquet_path).metadata
    except (OSError, pa.ArrowException):
        return False
    if stored.num_rows != old_rows or stored.schema.names != [column for column, _ in columns]:
        return False
    csv_ends = _line_ends(csv_path, old_rows + 1)
    if csv_ends is None:
        return False
    kept_sql = ", ".join(_quoted(column) for column in kept)
    new_table, sorted_table = f"export_{name}_new", f"export_{name}_sorted"
    cutoff = f"epoch_us({_quoted(time)}) > {int(last_run['last'])}"
    try:
        with duckdb_setting(con, "preserve_insertion_order", "true"):
            con.execute(f"create or replace temp table {new_table} as select {kept_sql} from main.{name} "
                        f"where period_month = {_literal(month.month)} and {cutoff}{_order_within_month(name)}")
            new = con.sql(f"select * from {new_table}").to_arrow_table()
            old_groups = con.sql(f"select {_quoted(group)} from read_parquet({_literal(str(parquet_path))})"
                                 ).to_arrow_table()
        if len(new) != new_rows or len(old_groups) != old_rows:
            return False
        old_runs, new_runs = _runs(old_groups.column(group)), _runs(new.column(group))
        del old_groups
        if old_runs is None or new_runs is None:
            return False
        # the groups in the export's order (DuckDB's, as the full rewrite sorts them): a group's old rows first
        keys = pa.table({"k": pa.concat_arrays([old_runs[0].cast(pa.large_string()),
                                                new_runs[0].cast(pa.large_string())]),
                         "src": np.repeat(np.array([0, 1], np.int8), [len(old_runs[0]), len(new_runs[0])]),
                         "i": np.concatenate([np.arange(len(old_runs[0])), np.arange(len(new_runs[0]))])})
        con.register("export_append_keys", keys)
        try:
            order = con.sql("select k, src, i from export_append_keys order by k, src").to_arrow_table()
        finally:
            con.unregister("export_append_keys")
        src, index = order.column("src").to_numpy(), order.column("i").to_numpy()
        same = pc.equal(order.column("k")[1:], order.column("k")[:-1]).to_numpy(zero_copy_only=False)
        # each file's groups once and in order, so that the runs are the groups and their order the export's
        if (same & (src[1:] == src[:-1])).any() or not (
                np.array_equal(index[src == 0], np.arange(len(old_runs[0])))
                and np.array_equal(index[src == 1], np.arange(len(new_runs[0])))):
            return False
        is_new = src == 1
        starts, lengths = np.zeros(len(src), np.int64), np.zeros(len(src), np.int64)
        starts[~is_new], lengths[~is_new] = old_runs[1][index[~is_new]], old_runs[2][index[~is_new]]
        starts[is_new], lengths[is_new] = new_runs[1][index[is_new]] + old_rows, new_runs[2][index[is_new]]
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        take = np.repeat(starts - first, lengths) + np.arange(month.rows)
        # into the table in order, a slice of the old file's rows at a time (read as a stream, in the file's order)
        # with the new rows placed among them: no copy of every row in memory besides DuckDB's
        old_at = np.empty(old_rows, np.int64)  # each old row's place in the new order
        from_old = take < old_rows
        old_at[take[from_old]] = np.flatnonzero(from_old)
        reader = con.cursor()
        try:
            # one thread: the file's rows in order, none held back waiting for an earlier one
            with duckdb_setting(reader, "preserve_insertion_order", "true"), duckdb_setting(reader, "threads", 1):
                batches = reader.sql(f"select {kept_sql} from read_parquet({_literal(str(parquet_path))})"
                                     ).to_arrow_reader(APPEND_SLICE)
                schema = pa.schema([field.with_nullable(True) for field in batches.schema])
                try:
                    new = new.cast(schema)  # the same types; the time zone's name may differ (UTC, Etc/UTC)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                    return False
                placed = {"rows": 0, "old": 0}

                def merged() -> Iterator[pa.RecordBatch]:
                    """The rows in the new order: each slice of the old file's rows with the new rows among them."""
                    pending: list[pa.RecordBatch] = []
                    carry = schema.empty_table()
                    for batch in itertools.chain(batches, [None]):
                        if batch is not None:
                            pending.append(batch)
                            if sum(len(b) for b in pending) < APPEND_SLICE:
                                continue
                        if not pending:
                            break
                        old = pa.Table.from_batches(pending).cast(schema)
                        pending = []
                        lo = placed["old"]
                        hi = lo + len(old)
                        if hi > old_rows:
                            raise _NotAppendable
                        until = month.rows if hi == old_rows else int(old_at[hi])  # the output up to old row hi
                        part = take[placed["rows"]:until]
                        part = np.where(part < old_rows, part - lo, part - old_rows + len(old))
                        rows = pa.concat_tables([carry, pa.concat_tables([old, new]).take(part)])
                        whole = len(rows) - len(rows) % ROW_GROUP if hi < old_rows else len(rows)
                        for at in range(0, whole, ROW_GROUP):
                            yield from rows.slice(at, ROW_GROUP).combine_chunks().to_batches()
                        carry = rows.slice(whole)
                        placed.update(rows=until, old=hi)

                # one statement, in batches of a row group's rows, so that the table's rows are stored as the full
                # rewrite's (DuckDB's Parquet writer follows the table's row groups: other batches, other bytes)
                con.register("export_append_rows", pa.RecordBatchReader.from_batches(schema, merged()))
                try:
                    con.execute(f"create or replace temp table {sorted_table} as select * from export_append_rows")
                except duckdb.Error as error:
                    if "_NotAppendable" in str(error):
                        return False
                    raise
                finally:
                    con.unregister("export_append_rows")
        finally:
            reader.close()
        if placed != {"rows": month.rows, "old": old_rows}:
            return False
        rows_sql = _month_columns(columns, constants, month)
        with duckdb_setting(con, "threads", 1):
            # the new rows' lines, as the full rewrite writes them (no header), beside the file until it is written
            fd, name_new = tempfile.mkstemp(prefix=f".{csv_path.name}.", suffix=".new.tmp",
                                            dir=csv_path.parent)
            os.close(fd)
            new_csv = Path(name_new)
            try:
                con.execute(f"copy (select {', '.join(_csv_column(c, k) for c, k in columns)} from (select "
                            f"{rows_sql} from {new_table})) to {_literal(str(new_csv))} "
                            "(format csv, header false, delimiter ',')")
                new_lines = new_csv.read_bytes()
                new_ends = np.flatnonzero(np.frombuffer(new_lines, np.uint8) == 10)
                if len(new_ends) != new_rows or new_ends[-1] != len(new_lines) - 1:
                    return False
                _copy(con, f"select {', '.join(_parquet_column(c, k) for c, k in columns)} "
                           f"from (select {rows_sql} from {sorted_table})", parquet_path, "format parquet")
            finally:
                new_csv.unlink(missing_ok=True)
        # the CSV: the header, then in the groups' order each one's lines, old (byte ranges of the old file,
        # neighbours joined) or new
        line_starts = np.concatenate([[0], csv_ends + 1])  # line r of the file (0: the header) starts at [r]
        new_starts = np.concatenate([[0], new_ends + 1])
        pieces: list[tuple[bool, int, int]] = [(False, 0, int(line_starts[1]))]
        for fresh, start, length in zip(is_new.tolist(), starts.tolist(), lengths.tolist(), strict=True):
            if fresh:
                pieces.append((True, int(new_starts[start - old_rows]), int(new_starts[start - old_rows + length])))
            elif not pieces[-1][0] and pieces[-1][2] == line_starts[start + 1]:
                pieces[-1] = (False, pieces[-1][1], int(line_starts[start + 1 + length]))
            else:
                pieces.append((False, int(line_starts[start + 1]), int(line_starts[start + 1 + length])))
        view = memoryview(new_lines)

        def splice(tmp: Path) -> None:
            with open(csv_path, "rb") as source, open(tmp, "wb", buffering=0) as target:
                for fresh, start, end in pieces:
                    if fresh:
                        _write_all(target.fileno(), view[start:end])
                    else:
                        _copy_range(source.fileno(), target.fileno(), start, end)

        write_atomic(csv_path, splice)
        return True
    finally:
        con.execute(f"drop table if exists {new_table}")
        con.execute(f"drop table if exists {sorted_table}")


def _append_bounded(con: duckdb.DuckDBPyConnection, *args) -> bool:
    """`_append` with DuckDB held to APPEND_MEMORY_LIMIT, then the connection's own limit back; then Arrow's
    allocator gives back the memory it keeps for reuse (a Dagster run goes on in the same process: at 10M requests
    the process held about 160 MB more after the call without it, under the user pages' step that follows)."""
    try:
        with duckdb_setting(con, "memory_limit", APPEND_MEMORY_LIMIT):
            return _append(con, *args)
    finally:
        pa.default_memory_pool().release_unused()


def write_exports(con: duckdb.DuckDBPyConnection, exports_dir: Path) -> list[ExportFile]:
    """Write every export table, one Parquet and one CSV file per month, except the months whose rows and files are
    as the last run left them (module docstring); return every month's files, `written` or kept.

    The rows of the months to write are read from the mart once, sorted, into a temporary table (a small table:
    read whole, fingerprinted from what was read; the request lines: fingerprinted through the view, then the months
    that changed read from it); DuckDB's COPY then writes each month's Parquet and CSV files from that table, in its
    order, on one thread: one sort per run, no row passes through Python. The temporary table is also what keeps
    the Parquet bytes: DuckDB marks a column REQUIRED in the Parquet schema when the table's statistics say it has no
    null, which a COPY straight from the view does not know.

    Measured at 5M requests (one month; CPU s, on a shared 2-core machine whose figures vary by a fifth from run to
    run): the lines cost about 1.5 to fingerprint, 6 to 8 to read and sort (10.5 with the period columns in the
    sort), 3 to write as Parquet (5 on two threads) and 4.5 to 5.5 as CSV (10 on two threads); a month written
    again costs 20 to 24 in all, 26 to 30 before (sort while writing the Parquet file, CSV read back from it). The
    Parquet options do not pay (snappy, the default: about 3.3; uncompressed 3.0 at twice the size, row groups of
    1M rows 5.5, 30k rows 3.0, parquet_version v2 4.1, no dictionary 3.5).

    One more day of lines (5M requests then 167k more, one month; `_append`): the whole call 16.6-19.1 -> 13.6-15.1
    CPU s (three runs each, alternating), the files byte for byte the same; the lines cost about 1.6 to fingerprint
    (0.4 of it for the rows up to the last run), 1 to read the old CSV's line ends, 1 to read the new rows, 0.6 to
    order them, 2.7 to put the old Parquet rows and the new ones in order into the table, 3.5 to write the Parquet
    file and 1 to copy the CSV file's lines. Peak memory is higher (1.6 against 1.2 GiB at 5M): the rows in the
    table, the slices in Arrow and the order's arrays. The first run, and a month written whole, cost what they
    did."""
    exports_dir = Path(exports_dir)
    state_path = exports_dir.with_name(STATE_FILE)
    version = _version()
    previous = _read_state(state_path, version)
    months_state: dict[str, dict] = {}
    written: list[ExportFile] = []
    for name in EXPORT_ORDER:
        rows_table, sorted_table = f"export_{name}", f"export_{name}_sorted"
        try:
            columns = con.execute(f"select column_name, column_type from (describe main.{name})").fetchall()
            # a small table: read it whole, fingerprint what was read; a table with a row per request: fingerprint
            # the view, then read the months that changed (every month on the first run), sorted
            whole = name not in PER_REQUEST
            if whole:
                con.execute(f"create or replace temp table {rows_table} as select * from main.{name}")
            source = rows_table if whole else f"main.{name}"
            time = APPEND_ORDER[name][1] if name in APPEND_ORDER else None
            before = {key.split("/", 1)[1]: entry["last"] for key, entry in previous.items()
                      if time is not None and key.startswith(f"{name}/") and isinstance(entry.get("last"), int)}
            months = _fingerprints(con, source, [c for c, kind in columns if c in PERIOD_COLUMNS], time, before)
            to_write = []
            for month in months:
                path = exports_dir / name / month.month
                files = (path.with_suffix(".parquet"), path.with_suffix(".csv"))
                entry = {"rows": month.rows, "fingerprint": month.fingerprint, "files": [stat_key(f) for f in files]}
                if time is not None:
                    entry["last"] = month.last
                last_run = previous.get(f"{name}/{month.month}")
                if last_run == entry and None not in entry["files"]:
                    written.append(ExportFile(name, month.month, month.rows, *files, written=False))
                    months_state[f"{name}/{month.month}"] = entry
                elif (time is not None and last_run is not None and last_run.get("files") == entry["files"]
                      and None not in entry["files"] and month.rows_before == last_run.get("rows")
                      and month.fingerprint_before == last_run.get("fingerprint") and month.rows > month.rows_before
                      and _append_bounded(con, name, columns, month, last_run, files)):
                    written.append(ExportFile(name, month.month, month.rows, *files, appended=True))
                    months_state[f"{name}/{month.month}"] = {**entry, "files": [stat_key(f) for f in files]}
                else:
                    to_write.append((month, files, entry))
            if not to_write:
                continue
            # The rows the files are written from, sorted once into a temporary table: every row of a small table,
            # the months to write of a table with a row per request (its first run: every month; no second copy of
            # the rows in memory while they are sorted). Its statistics decide which columns the Parquet schema
            # marks "not null" (those with no null in it), as before. The period columns that hold one value
            # per month are left out of the sort (at 5M requests a quarter less to carry per row: about 10.5 -> 7
            # CPU s) and come back as constants, in their place.
            stored = months if whole else [month for month, _, _ in to_write]
            constants = _constants(name, columns, stored)
            kept = ", ".join(_quoted(column) for column, _ in columns if column not in constants)
            where = "" if len(stored) == len(months) else \
                f" where period_month in ({', '.join(_literal(month.month) for month in stored)})"
            order = _order_within_month(name)
            if len(stored) > 1:  # each month's rows together, found through the table's zone maps
                order = " order by period_month" + (", " + order.removeprefix(" order by ") if order else "")
            con.execute(f"create or replace temp table {sorted_table} as select {kept} from {source}{where}{order}")
            parquet_select = ", ".join(_parquet_column(column, kind) for column, kind in columns)
            csv_select = ", ".join(_csv_column(column, kind) for column, kind in columns)
            for month, (parquet_path, csv_path), entry in to_write:
                rows_sql = _month_columns(columns, constants, month)
                month_rows = f"(select {rows_sql} from {sorted_table}" + (
                    f" where period_month = {_literal(month.month)})" if len(stored) > 1 else ")")
                # both files on one DuckDB thread: its Parquet and CSV writers on two cost more CPU time in all (at
                # 5M requests 5.1 against 3.2 CPU s for Parquet, 10.1 against 5.5 for CSV), the same bytes
                with duckdb_setting(con, "threads", 1):
                    parquet = _copy(con, f"select {parquet_select} from {month_rows}", parquet_path,
                                    "format parquet")
                    csv = _copy(con, f"select {csv_select} from {month_rows}", csv_path,
                                "format csv, header true, delimiter ','")
                written.append(ExportFile(name, month.month, month.rows, parquet, csv))
                months_state[f"{name}/{month.month}"] = {**entry, "files": [stat_key(parquet), stat_key(csv)]}
        finally:
            con.execute(f"drop table if exists {rows_table}")
            con.execute(f"drop table if exists {sorted_table}")
    write_text_atomic(state_path, json.dumps({"version": version, "months": months_state}, sort_keys=True))
    return sorted(written, key=lambda f: (list(EXPORT_ORDER).index(f.table), f.month))
