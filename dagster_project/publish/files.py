"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], None], *, mode: int = 0o644) -> Path:
    """Call `write(tmp)` on a temporary file next to `path`, then rename it over `path` (same directory, so the
    rename is atomic on POSIX) with permissions `mode`. The temporary file is removed if `write` fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.chmod(mode)  # mkstemp makes it private; exports and reports are for others to read
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str, *, mode: int = 0o644) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=mode)


def stat_key(path: Path) -> list[int] | None:
    """A file's size, mtime (ns) and inode, as a JSON-able list that changes when the file is rewritten or replaced;
    None when it does not exist."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]
