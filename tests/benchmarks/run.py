"""Benchmark: ingest throughput and memory, full dbt build, and the cost of adding one day incrementally.

    make benchmark            # or: python -m tests.benchmarks.run --users 3000 --days 30

Writes a sample of the given size to a temporary data directory, then measures, each in a fresh process so that
peak memory (max RSS) is the step's own:
1. landing every gateway file (ingest/warehouse.py), lines per second and peak memory;
2. a full `dbt build` of all models and tests;
3. adding one more day of logs with an incremental `dbt build` of the request-level models and marts, at two
   history sizes, to show that the cost of a day does not grow with the history.
Prints a Markdown table (copied into README.md's Performance section).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).parent / "dbt")


def _child(code: str, env: dict) -> tuple[float, float, str]:
    """Run python code in a fresh process; return (seconds, its peak RSS in MiB, its last stdout line)."""
    code += "\nimport resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"benchmark step failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    *output, peak_kib = done.stdout.strip().splitlines()
    return seconds, int(peak_kib) / 1024, output[-1] if output else ""


def _dbt(args: list[str], env: dict) -> tuple[float, float]:
    """Run dbt; return (wall seconds, seconds dbt spent executing models: without start-up and parsing)."""
    target = Path(env["AI_USAGE_DATA_DIR"]) / "dbt-target"
    started = time.perf_counter()
    done = subprocess.run([DBT, *args, "--profiles-dir", ".", "--target-path", str(target)], env=env,
                          cwd=ROOT / "dbt_project", capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}")
    wall = time.perf_counter() - started
    results = json.loads((target / "run_results.json").read_text())["results"]
    return wall, sum(result["execution_time"] for result in results if result["unique_id"].startswith("model."))




def land(env: dict, data_dir: Path, files: list[str] | None = None) -> tuple[float, float, int]:
    code = (
        "import json\nfrom pathlib import Path\n"
        "from ingest.warehouse import connect, load_gateway_files, load_users\n"
        f"data = Path({str(data_dir)!r})\n"
        f"files = {files!r}\n"
        "con = connect(data / 'warehouse.duckdb')\n"
        "results = load_gateway_files(con, data, load_id='bench', "
        "files=[data / 'raw' / 'gateway' / f for f in files] if files is not None else None)\n"
        "load_users(con, data, load_id='bench')\n"
        "print(sum(r.lines_read for r in results))\n"
    )
    seconds, peak, out = _child(code, env)
    return seconds, peak, int(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    end = datetime.now(timezone.utc).replace(microsecond=0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ai-usage-bench-") as tmp:
        data_dir = Path(tmp)
        env = {**os.environ, "AI_USAGE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
        from ingest.sample import write_sample_data

        started = time.perf_counter()
        summary = write_sample_data(data_dir, end=end, days=args.days, users=args.users)
        rows.append(("generate sample", f"{summary['requests']:,} requests, {args.users:,} users, {args.days} days",
                     time.perf_counter() - started, None))
        files = sorted(p.name for p in (data_dir / "raw" / "gateway").iterdir())
        full_days = files[:-1]  # the last file is today's, a partial day
        half = len(full_days) // 2
        small_day, large_day = full_days[half], full_days[-1]

        # history of half the days; then one more day, incrementally (the daily models only)
        land(env, data_dir, full_days[:half])
        _dbt(["build", "--quiet"], env)
        _, _, small_lines = land(env, data_dir, [small_day])
        small = _dbt(["run", "--quiet", "--select", "tag:daily"], env)
        # the rest of the history but one day; then that day, incrementally
        land(env, data_dir, full_days[half + 1:-1])
        _dbt(["run", "--quiet", "--select", "tag:daily"], env)
        _, _, large_lines = land(env, data_dir, [large_day])
        large = _dbt(["run", "--quiet", "--select", "tag:daily"], env)
        for lines, (wall, models), history in ((small_lines, small, half), (large_lines, large, len(full_days) - 1)):
            rows.append((f"add one day incrementally (`dbt run -s tag:daily`) after {history} days",
                         f"{lines:,} requests; models {models:.1f} s", wall, None))

        # a fresh warehouse: land everything at once (throughput, memory), then a full build
        (data_dir / "warehouse.duckdb").unlink()
        (data_dir / "raw" / "gateway" / files[-1]).unlink()  # keep the full days only
        seconds, peak, lines = land(env, data_dir)
        rows.append(("land all files (validate, dedupe, quarantine)",
                     f"{lines:,} lines, {lines / seconds:,.0f} lines/s", seconds, peak))
        wall, models = _dbt(["build", "--quiet", "--full-refresh"], env)
        rows.append(("full `dbt build` from scratch (all models and tests)", f"models {models:.1f} s", wall, None))

    print(f"Benchmark on {os.cpu_count()} cores, {datetime.now(timezone.utc):%Y-%m-%d}:\n")
    print("| step | size | seconds | peak memory |\n|---|---|---|---|")
    for step, size, seconds, peak in rows:
        print(f"| {step} | {size} | {seconds:.1f} | {f'{peak:,.0f} MiB' if peak else ''} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
