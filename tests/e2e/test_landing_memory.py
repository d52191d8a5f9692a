"""Bounded memory: landing streams a file, so its peak memory does not grow with the size of the file.

The file is landed in a fresh process that reports its own peak RSS (ru_maxrss of RUSAGE_SELF at its end: the
same figure the parent would read from RUSAGE_CHILDREN, without the other children of the test session). Measured
on this project's machine: the loader that read a whole file into Python dicts peaked at 1,064 MiB for the
500,000 lines below (1,842 MiB for 1,000,000; 7.7 GB for 5,000,000); the streaming one at 505 MiB for 500,000
and 617 MiB for 5,000,000. The 5,000,000-line case (1.2 GB, six minutes) runs only with AI_USAGE_SLOW_TESTS=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
BOUND_MIB = 768

LAND = """
import json, resource, sys
from datetime import datetime, timezone
from pathlib import Path
from ingest.warehouse import connect, load_gateway_files
data_dir = Path(sys.argv[1])
with connect(data_dir / "warehouse.duckdb") as con:
    (result,) = load_gateway_files(con, data_dir, load_id="memory", now=datetime(2026, 12, 1, tzinfo=timezone.utc))
    rows = con.execute("select count(*), count(distinct id) from raw.gateway_requests").fetchone()
    reasons = dict(con.execute("select reason, count(*) from raw.quarantine group by reason").fetchall())
print(json.dumps({"counts": [result.lines_read, result.accepted, result.duplicates, result.quarantined],
                  "rows": list(rows), "reasons": reasons,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_log(path: Path, lines: int) -> dict:
    """A log of ``lines`` lines: every 10,000th is not JSON, every 1,000th repeats the line 5 before it (every
    5,000th with other token counts: a conflict). Returns the expected counts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for index in range(lines):
            if index % 10_000 == 7:
                handle.write("{broken\n")
                continue
            number = index - 5 if index % 1000 == 999 else index
            prompt = 1000 + number % 977 + (1 if index % 5000 == 4999 else 0)
            handle.write(
                f'{{"id":"req_{number:09d}","created_at":"2026-11-{1 + number % 28:02d}T{number % 24:02d}:00:00Z",'
                f'"user_id":"usr_{number % 3000}","model":"openai/gpt-4o-mini","status_code":200,'
                f'"native_tokens_prompt":{prompt},"native_tokens_completion":{100 + number % 311},'
                f'"native_tokens_cached":{number % 500},"total_cost":0.000{number % 97 + 100}}}\n'
            )
    broken = sum(1 for index in range(7, lines, 10_000))
    repeats = sum(1 for index in range(999, lines, 1000))
    conflicts = sum(1 for index in range(4999, lines, 5000))
    return {"counts": [lines, lines - broken - repeats, repeats - conflicts, broken + conflicts],
            "rows": [lines - broken - repeats] * 2, "reasons": {"not_json": broken, "conflicting_duplicate": conflicts}}


def land_in_a_fresh_process(data_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", LAND, str(data_dir)], cwd=PROJECT, env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True, text=True, timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "lines",
    [
        500_000,
        pytest.param(5_000_000, marks=pytest.mark.skipif(
            os.environ.get("AI_USAGE_SLOW_TESTS") != "1", reason="takes minutes: set AI_USAGE_SLOW_TESTS=1")),
    ],
)
def test_landing_a_large_file_stays_within_a_memory_bound_that_does_not_grow_with_it(tmp_path, lines):
    expected = write_log(tmp_path / "raw" / "gateway" / "big.jsonl", lines)
    landed = land_in_a_fresh_process(tmp_path)
    peak = landed.pop("peak_mib")
    print(f"{lines:,} lines: peak RSS {peak:,.0f} MiB")
    assert landed == expected
    assert peak < BOUND_MIB, f"landing {lines:,} lines peaked at {peak:,.0f} MiB (bound {BOUND_MIB} MiB)"
    assert not list(tmp_path.glob("warehouse.duckdb.landing-*")), "the scratch directory was left behind"
