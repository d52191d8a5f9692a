"""The drop zone and its files: which entries may be read, and reading them line by line without ever crashing.

:func:`scan_drop_zone` sorts the entries of the drop zone from their names and ``lstat`` alone, opening nothing:
regular ``*.jsonl`` / ``*.jsonl.gz`` files are accepted; symbolic links, FIFOs, devices, sockets and names that are
not printable UTF-8 are refused with a reason; names that almost match (``.JSONL``, ``.ndjson``, ``.json``,
``.jsonl.gzip``, a subfolder) are near misses, listed so that someone renames them; dot-files and partial uploads
(``.tmp``, ``.part``, ``~``) are skipped. Every symbolic link is refused, even one to a regular file inside the
drop zone: a link can be re-pointed between listing and reading, and nothing needs one (copy or move the file in).
The drop zone folder itself may be a link (to another disk, say): that is the operator's choice, not a file's.

:func:`open_regular` opens with ``O_NOFOLLOW | O_NONBLOCK`` and checks with ``fstat`` that it opened a regular file,
so an entry swapped for a link or a FIFO after the listing is never read (and never hangs a run).

:func:`read_lines` yields one :class:`Line` per non-blank line, or a :class:`BadLine` where the bytes themselves are
unusable (not UTF-8, over the size limit, a gzip stream cut short). Blank lines are skipped; line numbers are the
physical ones, so an error can be found with ``sed -n Np``. Parsing JSON is left to the caller.

:func:`line_batches` yields the same lines in Arrow batches, split a few megabytes at a time without a Python loop
per line (landing uses it, through :class:`HashingReader` to fingerprint the file as it is read). Where only the
line-by-line reader knows the exact lines and numbers (a line over the limit, a damaged gzip stream) it raises
:class:`IrregularFile`, and the file is read again with :func:`lines_of`, the reference.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_LINE_BYTES = 1_048_576  # 1 MiB: a longer line is quarantined, never held whole in memory
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


def safe_name(name: str | bytes | Path) -> str:
    """A file name fit for a log line, a Markdown cell or a warehouse column: bytes that are not UTF-8 and control
    characters as backslash escapes (``bad\xffname.jsonl``, ``a\nb``), a backslash doubled, the rest as it is."""
    raw = os.fsencode(name)
    out = []
    for char in raw.decode("utf-8", errors="surrogateescape"):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char == "\\":
            out.append("\\\\")
        elif not char.isprintable() and char != " ":
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


ACCEPTED_SUFFIXES = (".jsonl", ".jsonl.gz")
# Partial uploads and editor leftovers: skipped (said at info level), picked up once renamed to their final name.
PARTIAL_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".filepart", ".crdownload", ".download", ".swp", "~")
# A name with one of these (in any case) that is not accepted is a near miss: someone meant it to load.
NEAR_MISS_MARKS = ("json", ".gz", ".gzip", ".zip", ".bz2", ".xz", ".zst")


@dataclass(frozen=True, slots=True)
class LogFile:
    """An accepted drop-zone file, with the size and mtime of its listing (enough to notice a change)."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Entry:
    """A drop-zone entry that is not loaded: its name shown safely, why, and what to do."""

    name: str
    reason: str
    detail: str


@dataclass
class DropZoneListing:
    """Every entry of the drop zone in exactly one list. ``refused``: never read, recorded and warned about;
    ``near_misses``: not loaded, warned about; ``skipped``: not loaded, said at info level."""

    folder: Path
    accepted: list[LogFile] = field(default_factory=list)
    refused: list[Entry] = field(default_factory=list)
    near_misses: list[Entry] = field(default_factory=list)
    skipped: list[Entry] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [log_file.path for log_file in self.accepted]


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _near_miss_hint(name: str) -> str:
    lower = name.lower()
    if lower.endswith(ACCEPTED_SUFFIXES):
        return "the extension is not lower case: rename it to end in .jsonl or .jsonl.gz to load it"
    if lower.endswith(".jsonl.gzip"):
        return "rename it to end in .jsonl.gz to load it"
    if lower.endswith((".ndjson", ".ndjson.gz")):
        return "if it holds one JSON object per line, rename it to end in .jsonl (or .jsonl.gz) to load it"
    return "not loaded: the drop zone takes only *.jsonl and *.jsonl.gz files; convert or rename it to load it"


def _classify(entry: os.DirEntry) -> tuple[str, Entry] | LogFile:
    """Where one entry goes ('refused', 'near_misses', 'skipped') and why, or the accepted file. Never opens it."""
    name = entry.name
    shown = safe_name(name)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "refused", Entry(shown, "name_not_utf8", "the name is not valid UTF-8 (shown with \\x escapes): "
                                "rename the file to a UTF-8 name to load it")
    if not all(char.isprintable() or char == " " for char in name):
        return "refused", Entry(shown, "name_not_printable", "the name holds control characters (a newline, a tab, "
                                "...): rename the file to load it")
    if name.startswith("."):
        return "skipped", Entry(shown, "hidden", "a dot-file: not loaded")
    if name.lower().endswith(PARTIAL_SUFFIXES):
        return "skipped", Entry(shown, "partial_upload", "a partial upload or temporary file: it loads once it is "
                                "renamed to its final .jsonl / .jsonl.gz name")
    try:
        info = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return "skipped", Entry(shown, "vanished", "gone while the drop zone was listed")
    if stat.S_ISLNK(info.st_mode):
        try:
            target = f" to {safe_name(os.readlink(entry.path))[:200]}"  # where it points; the target is not opened
        except OSError:
            target = ""
        return "refused", Entry(shown, "symlink", f"a symbolic link{target}: links are never followed; copy or move "
                                "the file itself into the drop zone")
    if stat.S_ISDIR(info.st_mode):
        return "near_misses", Entry(shown, "subfolder", "a folder: files in subfolders are not loaded; move them "
                                    "into the drop zone itself")
    if not stat.S_ISREG(info.st_mode):
        kind = next((text for test, text in _KINDS if test(info.st_mode)), "not a regular file")
        return "refused", Entry(shown, "not_regular_file", f"{kind}: only regular files are read")
    if name.endswith(ACCEPTED_SUFFIXES):
        return LogFile(Path(entry.path), info.st_size, info.st_mtime_ns)
    if any(mark in name.lower() for mark in NEAR_MISS_MARKS):
        return "near_misses", Entry(shown, "near_miss_name", _near_miss_hint(name))
    return "skipped", Entry(shown, "not_a_log_file", "not a gateway log file name (*.jsonl, *.jsonl.gz)")


def scan_drop_zone(folder: Path) -> DropZoneListing:
    """Sort every entry of ``folder`` (not recursive) from its name and lstat alone; accepted files by name."""
    listing = DropZoneListing(Path(folder))
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return listing
    for entry in entries:
        outcome = _classify(entry)
        if isinstance(outcome, LogFile):
            listing.accepted.append(outcome)
        else:
            getattr(listing, outcome[0]).append(outcome[1])
    listing.accepted.sort(key=lambda log_file: log_file.path.name)
    for entries_of_kind in (listing.refused, listing.near_misses, listing.skipped):
        entries_of_kind.sort(key=lambda item: item.name)
    return listing


def list_log_files(folder: Path) -> list[Path]:
    """The accepted gateway log files of a drop-zone folder, sorted by name (stable load order); see
    :func:`scan_drop_zone` for what is refused and why."""
    return scan_drop_zone(folder).files


class NotARegularFile(FileNotFoundError):
    """The regular file that was listed is not one any more (swapped for a link, a FIFO, a device): handled like a
    file gone since the listing, and the next listing refuses the entry with its reason."""


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file itself: a symbolic link is not followed and a FIFO
    or device does not block (``O_NOFOLLOW | O_NONBLOCK``), then ``fstat`` confirms what was opened."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotARegularFile(f"{safe_name(path)}: a symbolic link, refused without being read; copy or move "
                                  "the file itself in") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
            raise NotARegularFile(f"{safe_name(path)}: {kind}, refused; only regular files are read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    with open_regular(path) as handle:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=handle, mode="rb") as unzipped:
                yield unzipped
        else:
            yield handle


def _preview(raw: bytes, limit: int = 500) -> str:
    return raw[:limit].decode("utf-8", errors="backslashreplace")


def read_lines(path: Path) -> Iterator[Line | BadLine]:
    """Every non-blank line of ``path`` as a :class:`Line`, or a :class:`BadLine` where its bytes are unusable.

    Never raises for what is inside the file: a stream that is not gzip or breaks off ends the file with one
    BadLine (the lines before it stand); a UTF-8 byte order mark at the start is dropped.
    """
    with _open(path) as handle:
        yield from lines_of(handle)


def lines_of(handle: BinaryIO) -> Iterator[Line | BadLine]:
    """:func:`read_lines` on an open (decompressed) stream: the reference for how bytes become lines."""
    number = 0
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
        yield _decoded(number, stripped)


def _decoded(number: int, stripped: bytes) -> Line | BadLine:
    try:
        return Line(number, stripped.decode("utf-8"))
    except UnicodeDecodeError as error:
        return BadLine(number, "invalid_utf8", f"bytes are not UTF-8 ({error.reason} at byte {error.start})",
                       _preview(stripped))


# --- the fast reader: the same lines as lines_of, a few megabytes at a time -----------------------------------

CHUNK_BYTES = 1 << 23  # decompressed bytes read at a time by line_batches
# bytes.strip() strips these; the lines are split at b"\n" already
_ASCII_SPACE = " \t\r\x0b\x0c"
_NEWLINE = ord("\n")


class IrregularFile(Exception):
    """:func:`line_batches` met what only :func:`lines_of` turns into lines exactly (a line over the size limit, a
    gzip stream that is damaged or cut short): read the file again with it."""


@dataclass(frozen=True)
class LineBatch:
    """Non-blank, valid UTF-8 lines: their physical numbers (int64) and their text, stripped (string)."""

    numbers: pa.Array
    texts: pa.Array


class HashingReader(io.RawIOBase):
    """A binary file read through this is fingerprinted on the way (SHA-256 of every byte read) and counted."""

    def __init__(self, handle: BinaryIO):
        super().__init__()
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._handle.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
            self.size += count
        return count

    def read_to_end(self) -> None:
        """Read (and fingerprint) whatever the reader of the content left unread: the fingerprint is the whole
        file's, as :func:`file_fingerprint` has it."""
        buffer = bytearray(1 << 20)
        while self.readinto(buffer):
            pass


def decompressed(path: Path, raw: BinaryIO) -> BinaryIO:
    """The content of a drop-zone file open as ``raw``: gunzipped for a ``.gz`` name."""
    return gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw


def line_batches(stream: BinaryIO, *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[LineBatch | BadLine]:
    """The lines :func:`lines_of` yields for ``stream``, read ``chunk_bytes`` at a time and split without a Python
    loop per line: the lines that decode as :class:`LineBatch` batches, the others (not UTF-8) as :class:`BadLine`.

    Raises :class:`IrregularFile` (before or after yielding) for a line longer than ``MAX_LINE_BYTES`` or a read
    error, the cases where only :func:`lines_of` knows the exact lines and numbers.
    """
    number, carry, first = 0, b"", True
    while True:
        try:
            block = stream.read(chunk_bytes)
        except (EOFError, zlib.error, OSError) as error:  # BadGzipFile is an OSError
            raise IrregularFile(f"{error or type(error).__name__}") from error
        if block:  # (one copy of the block at most: the carried part and the block's whole lines joined)
            cut = block.rfind(b"\n") + 1
            if not cut:
                complete, carry = b"", carry + block
            elif carry or cut < len(block):
                complete, carry = b"".join((carry, memoryview(block)[:cut])), block[cut:]
            else:
                complete, carry = block, b""
        else:
            complete, carry = carry, b""  # the last line has no newline
        if len(carry) > MAX_LINE_BYTES:
            raise IrregularFile("a line is longer than the limit")
        if complete:
            if first:
                first = False
                end = complete.find(b"\n")
                if (end if end >= 0 else len(complete)) > MAX_LINE_BYTES:
                    raise IrregularFile("the first line is longer than the limit")
                if complete.startswith(BOM):
                    complete = complete[len(BOM):]
            count, items = _split(complete, number)
            number += count
            yield from items
        if not block:
            return


def _split(complete: bytes, number: int) -> tuple[int, list[LineBatch | BadLine]]:
    """The physical lines of ``complete`` (whole lines, the last one with or without its newline), numbered from
    ``number + 1``: how many there are and the batch (and bad lines) they make.

    The lines are cut where numpy finds the newlines, as one Arrow array over ``complete`` itself (each line with
    its newline, which the strip removes with the spaces): no copy before the strip, no Python loop per line."""
    newlines = np.flatnonzero(np.frombuffer(complete, np.uint8) == _NEWLINE)
    tail = not complete.endswith(b"\n")  # the last line has no newline
    count = len(newlines) + (1 if tail and complete else 0)
    offsets = np.empty(count + 1, np.int32)
    offsets[0] = 0
    offsets[1:len(newlines) + 1] = newlines + 1
    if count > len(newlines):
        offsets[-1] = len(complete)
    if count:
        lengths = np.diff(offsets)
        lengths[:len(newlines)] -= 1  # without their newline
        if lengths.max() > MAX_LINE_BYTES:
            raise IrregularFile("a line is longer than the limit")
    numbers = pa.array(np.arange(number + 1, number + count + 1, dtype=np.int64))
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(complete)]
    if complete.isascii() or _is_utf8(complete):  # then so is each line: a newline is never part of a character
        texts = pc.utf8_trim(pa.Array.from_buffers(pa.string(), count, buffers), _ASCII_SPACE + "\n")
        if count and pc.min(pc.binary_length(texts)).as_py() > 0:  # no blank line (the usual case)
            return count, [LineBatch(numbers, texts)]
        keep = pc.greater(pc.binary_length(texts), 0)
        return count, [LineBatch(numbers.filter(keep), texts.filter(keep))]
    items: list[LineBatch | BadLine] = []  # some line is not UTF-8: line by line, as lines_of does it
    good_numbers, good_texts = [], []
    parts = pa.Array.from_buffers(pa.binary(), count, buffers)
    for offset, raw in enumerate(parts.to_pylist(), start=number + 1):
        stripped = raw.strip()
        if not stripped:
            continue
        line = _decoded(offset, stripped)
        if isinstance(line, Line):
            good_numbers.append(line.number)
            good_texts.append(line.text)
        else:
            items.append(line)
    items.append(LineBatch(pa.array(good_numbers, pa.int64()), pa.array(good_texts, pa.string())))
    return count, items


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
