"""The landing ledger: the order in which gateway log files were first landed, kept beside the drop zone.

"The first version of an id wins" makes billing depend on the order in which files were landed. That order is a
fact of the past that the files themselves do not carry, so it is written down here, in
``<data dir>/raw/landing_ledger.csv``, one line per file content (SHA-256) the first time it is landed::

    sequence,sha256,file,bytes,lines,landed_at
    1,9f2c...,raw/gateway/2026-11-20.jsonl,11873450,48211,2026-11-21T02:15:09.512000Z

A line is appended (and fsync'ed) right after the file's transaction commits. Rebuilding the warehouse from the
drop zone (delete ``warehouse.duckdb``, keep ``raw/``) lands the files the ledger knows first, in ledger order
(matched by SHA-256, so a renamed file keeps its place), then new files in name order: every past bill comes out
the same. A file that grew after it was landed (today's log) is replayed in two steps, as it was landed: its first
``bytes`` when their SHA-256 is the ledger's, then the whole file. A run killed between the commit and the append
leaves ``raw.load_log`` ahead of the ledger;
:func:`reconcile` appends what is missing, in load order, before anything else is landed.

Plain Python, no DuckDB: the warehouse passes in what ``raw.load_log`` says.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LEDGER_NAME = "landing_ledger.csv"
FIELDS = ("sequence", "sha256", "file", "bytes", "lines", "landed_at")
HEADER = ",".join(FIELDS) + "\n"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    sequence: int
    sha256: str
    file: str
    bytes: int | None  # the size of the content landed; None when unknown (an entry reconciled from raw.load_log)
    lines: int
    landed_at: str


def ledger_path(data_dir: Path) -> Path:
    """The landing ledger of a data directory: `<data dir>/raw/landing_ledger.csv`."""
    return Path(data_dir) / "raw" / LEDGER_NAME


def _repair_torn_tail(path: Path) -> None:
    """Cut a last line that a crash left half-written (no newline): it was never a complete entry, and
    :func:`reconcile` appends it again from ``raw.load_log``."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        keep = handle.read().rfind(b"\n") + 1
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


def read_ledger(path: Path) -> list[LedgerEntry]:
    """The entries of the ledger at ``path`` in sequence order ([] when there is none yet).

    A torn last line (a crash while appending) is cut off; any other malformed line stops with an error naming
    the line and field, since guessing would change what gets billed.
    """
    if not path.is_file():
        return []
    _repair_torn_tail(path)
    text = path.read_text(encoding="utf-8")
    if not text:
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != FIELDS:
        raise ValueError(
            f"{path}: line 1: the header is {reader.fieldnames}, expected {','.join(FIELDS)}. This file records "
            "the order in which gateway files were landed; restore it from a backup rather than editing it"
        )
    entries: list[LedgerEntry] = []
    for row in reader:
        line = reader.line_num
        try:
            entry = LedgerEntry(int(row["sequence"]), row["sha256"], row["file"],
                                int(row["bytes"]) if row["bytes"] else None, int(row["lines"]), row["landed_at"])
        except (TypeError, ValueError):
            field = next((name for name in ("sequence", "bytes", "lines")
                          if not str(row.get(name) or "").isdigit() and (name != "bytes" or row.get(name))), "sha256")
            raise ValueError(
                f"{path}: line {line}: field {field!r} is {row.get(field)!r}, not a valid ledger value. Restore the "
                "ledger from a backup; if it is lost, delete it and the next landing writes it again from "
                "raw.load_log (only possible while warehouse.duckdb still exists)"
            ) from None
        if len(entry.sha256) != 64 or (entries and entry.sequence <= entries[-1].sequence):
            raise ValueError(
                f"{path}: line {line}: field 'sha256' or 'sequence' is out of order or malformed "
                f"({entry.sequence}, {entry.sha256!r}). Restore the ledger from a backup"
            )
        entries.append(entry)
    return entries


def append(path: Path, entries: Iterable[tuple[str, str, int, str]], *, after: list[LedgerEntry]) -> list[LedgerEntry]:
    """Append ``(sha256, file, bytes, lines, landed_at)`` entries after the ``after`` entries (the ledger as read), and
    fsync; return the new entries. The file and its header are created when missing."""
    entries = list(entries)
    if not entries:
        return []
    next_sequence = (after[-1].sequence if after else 0) + 1
    new = [LedgerEntry(next_sequence + offset, *entry) for offset, entry in enumerate(entries)]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(
        (entry.sequence, entry.sha256, entry.file, "" if entry.bytes is None else entry.bytes, entry.lines,
         entry.landed_at)
        for entry in new
    )
    created = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", newline="") as handle:
        if created:
            handle.write(HEADER)
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())
    if created:  # make the new directory entry itself durable
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return new


def reconcile(path: Path, landed: Iterable[tuple[str, str, int, str]]) -> list[LedgerEntry]:
    """Bring the ledger up to date with what the warehouse says was landed: ``landed`` is
    ``(sha256, file, bytes, lines, landed_at)`` in load order (``raw.load_log``); contents the ledger lacks are appended
    in that order. Returns the whole ledger."""
    entries = read_ledger(path)
    known = {entry.sha256 for entry in entries}
    missing = []
    for entry in landed:
        if entry[0] not in known:
            known.add(entry[0])
            missing.append(entry)
    return entries + append(path, missing, after=entries)


def first_sequence(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    """{sha256: the sequence at which that content was first landed}."""
    first: dict[str, int] = {}
    for entry in entries:
        first.setdefault(entry.sha256, entry.sequence)
    return first
