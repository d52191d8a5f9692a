"""What is new in the drop zone, and which UTC days it touches (for the sensor and `make run`).

Cheap on purpose: a file is identified by (size, mtime), and only new or changed files are read, for their
`created_at` only. Lines that do not parse are skipped here; the loader quarantines them properly.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from ingest.contract import BadRecord, parse_timestamp
from ingest.files import Line, gateway_dir, list_log_files, read_lines


def file_states(data_dir: Path) -> dict[str, list[int]]:
    """{file name relative to the drop zone: [size, mtime_ns]} for every log file."""
    folder = gateway_dir(data_dir)
    states = {}
    for path in list_log_files(folder):
        stat = path.stat()
        states[path.relative_to(folder).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return states


def changed_files(data_dir: Path, previous: dict[str, list[int]]) -> list[Path]:
    """Files that are new or changed since `previous` (a file_states() result)."""
    current = file_states(data_dir)
    return [gateway_dir(data_dir) / name for name, state in current.items() if previous.get(name) != state]


def days_touched(paths: list[Path]) -> set[date]:
    """The UTC days of the `created_at` of every parseable line of these files."""
    days: set[date] = set()
    for path in paths:
        for line in read_lines(path):
            if not isinstance(line, Line):
                continue
            try:
                record = json.loads(line.text)
                days.add(parse_timestamp(record["created_at"], "created_at").date())
            except (ValueError, KeyError, TypeError, RecursionError, BadRecord):
                continue
    return days
