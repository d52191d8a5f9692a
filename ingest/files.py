"""Reading raw JSON Lines files (plain or gzip) line by line without ever crashing on what is inside them.

:func:`read_lines` yields one :class:`Line` per non-blank line, or a :class:`BadLine` where the bytes themselves are
unusable (not UTF-8, over the size limit, a gzip stream cut short). Blank lines are skipped; line numbers are the
physical ones, so an error can be found with ``sed -n Np``. Parsing JSON is left to the caller.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_LINE_BYTES = 1_048_576  # 1 MiB: a longer line is quarantined, never held whole in memory
PATTERNS = ("*.jsonl", "*.jsonl.gz")
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    text: str


@dataclass(frozen=True, slots=True)
class BadLine:
    number: int
    reason: str
    detail: str
    raw: str


def gateway_dir(data_dir: Path) -> Path:
    """The drop zone for gateway log files: `<data dir>/raw/gateway`."""
    return Path(data_dir) / "raw" / "gateway"


def list_log_files(folder: Path) -> list[Path]:
    """The gateway log files of a drop-zone folder, sorted by name (stable load order)."""
    if not folder.is_dir():
        return []
    return sorted({path for pattern in PATTERNS for path in folder.glob(pattern) if path.is_file()})


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def _preview(raw: bytes, limit: int = 500) -> str:
    return raw[:limit].decode("utf-8", errors="backslashreplace")


def read_lines(path: Path) -> Iterator[Line | BadLine]:
    """Every non-blank line of ``path`` as a :class:`Line`, or a :class:`BadLine` where its bytes are unusable.

    Never raises for what is inside the file: a stream that is not gzip or breaks off ends the file with one
    BadLine (the lines before it stand); a UTF-8 byte order mark at the start is dropped.
    """
    number = 0
    with _open(path) as handle:
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except gzip.BadGzipFile as error:
                yield BadLine(
                    number + 1,
                    "bad_gzip",
                    f"the file is named .gz but is not a gzip stream after line {number}: {error}. "
                    "Re-export it compressed with gzip, or drop the .gz from its name",
                    "",
                )
                return
            except (EOFError, zlib.error, OSError) as error:
                yield BadLine(
                    number + 1,
                    "truncated_gzip",
                    f"the compressed stream ends or breaks after line {number}: {error or type(error).__name__}. "
                    "Lines before it were loaded; re-export the file to load the rest",
                    "",
                )
                return
            if not raw:
                return
            number += 1
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                preview, size = _preview(raw), len(raw)
                broken = None
                try:  # skip the rest of the oversized line in bounded chunks
                    while raw and not raw.endswith(b"\n"):
                        raw = handle.readline(MAX_LINE_BYTES)
                        size += len(raw)
                except (EOFError, zlib.error, OSError) as error:  # BadGzipFile is an OSError
                    broken = error
                yield BadLine(
                    number, "line_too_long",
                    f"line is {size:,} bytes, above the limit of {MAX_LINE_BYTES:,}; it was skipped", preview,
                )
                if broken is not None:
                    yield BadLine(
                        number + 1, "truncated_gzip",
                        f"the compressed stream ends or breaks inside line {number}: "
                        f"{broken or type(broken).__name__}. "
                        "Lines before it were loaded; re-export the file to load the rest",
                        "",
                    )
                    return
                continue
            stripped = raw.strip()
            if not stripped:
                continue  # a blank line is not a record; physical line numbers stay true
            try:
                text = stripped.decode("utf-8")
            except UnicodeDecodeError as error:
                yield BadLine(number, "invalid_utf8", f"bytes are not UTF-8 ({error.reason} at byte {error.start})",
                              _preview(stripped))
                continue
            yield Line(number, text)
