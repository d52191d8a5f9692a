"""`make benchmark`: the project against one DuckDB script (the floor), polars and pandas, on the same data.

    make benchmark                                   # 1,000,000 requests
    make benchmark ARGS="--requests 5000000"         # or 10000000
    python -m tests.benchmarks.run --requests 200000 --only floor,polars,pandas,steps

Data: tests/benchmarks/generate.py (cached in $TMPDIR/ai-usage-bench/<N>-<seed>-<catalog>/). Every step runs in a
fresh process (and the project's in a fresh data directory and DAGSTER_HOME), cwd = the repository, PYTHONPATH =
the repository, .venv/bin first on PATH. Measured per step:
- CPU s: user + sys of the step's whole process tree (``os.wait4`` of the child: it includes every descendant the
  child waited for, such as the dbt processes that Dagster starts);
- wall s;
- peak RSS: the larger of the tree's ``ru_maxrss`` (the largest single process) and the largest sum of the RSS of
  every live process of the tree, sampled from /proc every 0.2 s (processes alive at the same time add up).

Steps: the floor (tests/benchmarks/floor.py; its landing and pricing phases timed inside it), polars and pandas
scripts; fixed costs (Dagster's definitions loaded; `dbt parse` without and with a valid partial parse); the
project's landing (ingest.warehouse) and full `dbt build`, separately and summed; the `make run` path
(`python -m dagster_project.run` then `python -m dagster_project.summary`); one more day on top of the full history
((a) landing + `dbt build`, (b) `python -m dagster_project.run`) against the floor recomputing everything.

CHECK: the totals of the floor, polars, pandas and every project warehouse (from its marts) must be identical to
the 12th decimal (requests, billed requests, tokens, trial tokens, provider cost, revenue, profit, trial credit,
each day's revenue, cost and requests, the per-user-day sums, lines read / accepted / duplicates / quarantined);
otherwise it prints MISMATCH and exits 1. The table goes to stdout and tests/benchmarks/results-<size>.md (+ .json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from dagster_project.settings import DBT_PRODUCTION_EXCLUDES
from tests.benchmarks.generate import EXTRA_DAY, ensure_data
from tests.benchmarks.project import differences, project_totals, with_daily_mart

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
DBT = str(BIN / "dbt")
HERE = Path(__file__).resolve().parent
PARTS = ("floor", "polars", "pandas", "fixed", "steps", "e2e", "increment")
MiB = 1024 * 1024


@dataclass
class Step:
    name: str
    cpu: float = 0.0
    wall: float = 0.0
    rss_mib: float = 0.0
    ok: bool = True
    note: str = ""
    phases: dict = field(default_factory=dict)

    def __add__(self, other: Step) -> Step:
        return Step(f"{self.name} + {other.name}", self.cpu + other.cpu, self.wall + other.wall,
                    max(self.rss_mib, other.rss_mib), self.ok and other.ok)


def _tree_rss(root: int) -> int:
    """The summed RSS (bytes) of ``root`` and every live descendant, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * page
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measure(name: str, argv: list[str], env: dict, log: Path, cwd: Path = ROOT) -> Step:
    """Run ``argv`` as a fresh process; its tree's CPU, wall and peak RSS."""
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    wall = time.perf_counter() - started
    rss = max(usage.ru_maxrss * 1024, peak[0]) / MiB
    step = Step(name, usage.ru_utime + usage.ru_stime, wall, rss, proc.returncode == 0)
    if not step.ok:
        step.note = f"exit {proc.returncode}, see {log}"
        tail = log.read_text(errors="replace")[-3000:]
        print(f"  FAILED: {name} (exit {proc.returncode}); end of {log}:\n{tail}", flush=True)
    return step


def _env(data_dir: Path, dagster_home: Path) -> dict:
    env = dict(os.environ)
    env.update(AI_USAGE_DATA_DIR=str(data_dir), DAGSTER_HOME=str(dagster_home), PYTHONPATH=str(ROOT),
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", DBT_LOG_PATH=str(data_dir / "dbt-logs"))
    return env


def fresh_project(work: Path, name: str, data: Path) -> tuple[Path, dict]:
    """A fresh data dir (the history's files hard-linked in) and DAGSTER_HOME; the env for its steps."""
    base = work / name
    data_dir, home = base / "data", base / "dagster_home"
    (data_dir / "raw" / "gateway").mkdir(parents=True)
    home.mkdir(parents=True)
    shutil.copy(ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    for path in sorted((data / "history" / "raw" / "gateway").iterdir()):
        _link(path, data_dir / "raw" / "gateway" / path.name)
    _link(data / "history" / "raw" / "users.csv", data_dir / "raw" / "users.csv")
    return data_dir, _env(data_dir, home)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


LAND = (
    "from pathlib import Path\n"
    "import os\n"
    "from ingest.warehouse import connect, load_gateway_files, load_users\n"
    "data = Path(os.environ['AI_USAGE_DATA_DIR'])\n"
    "con = connect(data / 'warehouse.duckdb')\n"
    "results = load_gateway_files(con, data, load_id='bench')\n"
    "load_users(con, data, load_id='bench')\n"
    "con.close()\n"
    "print('lines read', sum(r.lines_read for r in results))\n"
)


def land(name: str, env: dict, log: Path) -> Step:
    return measure(name, [PYTHON, "-c", LAND], env, log)


def dbt(name: str, args: list[str], env: dict, log: Path, target: Path) -> Step:
    return measure(name, [DBT, *args, "--profiles-dir", ".", "--target-path", str(target)], env, log,
                   cwd=ROOT / "dbt_project")


def script(name: str, module: str, args: list[str], env: dict, log: Path, out: Path) -> tuple[Step, dict | None]:
    step = measure(name, [PYTHON, "-m", module, *args, "--out", str(out)], env, log)
    if not step.ok:
        return step, None
    result = json.loads(out.read_text())
    step.phases = result["phases"]
    return step, result["totals"]


@dataclass
class Row:
    step: str
    cpu: float | None
    wall: float | None
    rss_mib: float | None
    ratio: str = ""
    target: str = ""
    met: str = ""
    ok: bool = True


def _row(step: Step, label: str, ratio_to: float | None = None, ratio_name: str = "", target: float | None = None,
         target_text: str = "") -> Row:
    ratio = step.cpu / ratio_to if ratio_to else None
    met = "" if target is None or ratio is None or not step.ok else ("yes" if ratio <= target else "no")
    return Row(label if step.ok else f"{label} (FAILED: {step.note})", step.cpu, step.wall, step.rss_mib,
               f"{ratio:.2f}x {ratio_name}" if ratio is not None else "", target_text, met, step.ok)


def table(rows: list[Row]) -> str:
    lines = ["| step | CPU s | wall s | peak RSS MiB | ratio (CPU) | target | met |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        num = [f"{v:,.1f}" if v is not None else "" for v in (r.cpu, r.wall)]
        rss = f"{r.rss_mib:,.0f}" if r.rss_mib is not None else ""
        lines.append(f"| {r.step} | {num[0]} | {num[1]} | {rss} | {r.ratio} | {r.target} | {r.met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default all): {', '.join(PARTS)}")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (data dirs, logs)")
    parser.add_argument("--results", type=Path, default=HERE, help="folder for results-<size>.md/.json")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    unknown = only - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")

    print(f"benchmark: {args.requests:,} requests, seed {args.seed}, parts {', '.join(p for p in PARTS if p in only)}",
          flush=True)
    data = ensure_data(args.requests, args.seed, progress=lambda text: print(f"  {text}", flush=True))
    generated = json.loads((data / "done.json").read_text())
    extra_file = data / "extra" / f"gateway-{EXTRA_DAY}.jsonl"
    work = Path(tempfile.mkdtemp(prefix="run-", dir=data.parent))
    log = work / "steps.log"
    print(f"  data {data} ({generated['lines']:,} lines + {generated['extra_lines']:,} in one more day); "
          f"work dir {work}", flush=True)
    plain_env = _env(work / "none", work / "none")
    steps: dict[str, Step] = {}
    totals: dict[str, dict] = {}

    def say(step: Step) -> Step:
        print(f"  {step.name}: {step.cpu:,.1f} CPU s, {step.wall:,.1f} s, {step.rss_mib:,.0f} MiB"
              + ("" if step.ok else "  FAILED"), flush=True)
        return step

    if "floor" in only or "steps" in only or "e2e" in only or "increment" in only:
        step, result = script("floor", "tests.benchmarks.floor", [str(data / "history")], plain_env, log,
                              work / "floor.json")
        steps["floor"], totals["floor"] = say(step), result
        step, result = script("floor, one more day: recomputing everything", "tests.benchmarks.floor",
                              [str(data / "history"), "--extra", str(extra_file)], plain_env, log,
                              work / "floor-plus.json")
        steps["floor_plus"], totals["floor_plus"] = say(step), result
    for lib in ("polars", "pandas"):
        if lib in only:
            step, result = script(lib, f"tests.benchmarks.{lib}_job", [str(data / "history")], plain_env, log,
                                  work / f"{lib}.json")
            steps[lib], totals[lib] = say(step), result
    if "fixed" in only:
        # as `python -m dagster_project.run` loads them: without importing dbt-core (dagster_project/run.py)
        steps["dagster_start"] = say(measure("Dagster start (definitions loaded)",
                                             [PYTHON, "-c", "from dagster_project import run; run.without_dbt_core(); "
                                              "from dagster_project.definitions import defs"],
                                             plain_env, log))
        target = work / "dbt-parse-target"
        steps["dbt_parse"] = say(dbt("dbt parse, no partial parse", ["parse"], plain_env, log, target))
        steps["dbt_parse_partial"] = say(dbt("dbt parse, valid partial parse", ["parse"], plain_env, log, target))
    if "steps" in only or "increment" in only:
        data_dir, env = fresh_project(work, "steps", data)
        steps["landing"] = say(land("landing", env, log))
        # as a production run builds: a valid partial parse (make setup parses; every run keeps it), no unit tests
        dbt("dbt parse (not measured)", ["parse"], env, log, data_dir / "dbt-target")
        steps["build"] = say(dbt("dbt build, full", ["build", *DBT_PRODUCTION_EXCLUDES], env, log,
                                 data_dir / "dbt-target"))
        if steps["landing"].ok and steps["build"].ok:
            totals["project: landing + dbt build"] = project_totals(data_dir / "warehouse.duckdb")
        if "increment" in only:
            _link(extra_file, data_dir / "raw" / "gateway" / extra_file.name)
            steps["inc_landing"] = say(land("one more day: landing", env, log))
            steps["inc_build"] = say(dbt("one more day: dbt build", ["build", *DBT_PRODUCTION_EXCLUDES], env, log,
                                         data_dir / "dbt-target"))
            if steps["inc_landing"].ok and steps["inc_build"].ok:
                totals["project: one more day, landing + dbt build"] = project_totals(data_dir / "warehouse.duckdb")
    if "e2e" in only or "increment" in only:
        data_dir, env = fresh_project(work, "e2e", data)
        steps["run"] = say(measure("python -m dagster_project.run", [PYTHON, "-m", "dagster_project.run"], env, log))
        steps["summary"] = say(measure("python -m dagster_project.summary",
                                       [PYTHON, "-m", "dagster_project.summary"], env, log))
        if steps["run"].ok:
            totals["project: make run path"] = project_totals(data_dir / "warehouse.duckdb")
        if "increment" in only:
            _link(extra_file, data_dir / "raw" / "gateway" / extra_file.name)
            steps["inc_run"] = say(measure("one more day: python -m dagster_project.run",
                                           [PYTHON, "-m", "dagster_project.run"], env, log))
            if steps["inc_run"].ok:
                totals["project: one more day, dagster_project.run"] = project_totals(data_dir / "warehouse.duckdb")

    rows = build_rows(steps, args.requests)
    mismatches = check(totals)
    text = (f"Benchmark, {args.requests:,} requests ({generated['lines']:,} lines, {generated['users']:,} users, "
            f"30 days; one more day: {generated['extra_lines']:,} lines), seed {args.seed}, "
            f"{os.cpu_count()} cores, {datetime.now(timezone.utc):%Y-%m-%d}, "
            f"`python -m tests.benchmarks.run --requests {args.requests}`\n\n" + table(rows) + "\n")
    if "floor" in steps:
        text += "\n" + phase_table(steps) + "\n"
    text += "\nCHECK: " + ("MISMATCH\n" + "\n".join(mismatches) if mismatches else
                           f"identical totals to the 12th decimal ({', '.join(sorted(totals))})") + "\n"
    print("\n" + text, flush=True)
    size = f"{args.requests // 1_000_000}m" if args.requests % 1_000_000 == 0 else str(args.requests)
    if only == set(PARTS):
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / f"results-{size}.md").write_text(text)
        (args.results / f"results-{size}.json").write_text(json.dumps(
            {"requests": args.requests, "seed": args.seed, "generated": generated,
             "steps": {k: asdict(v) for k, v in steps.items()}, "rows": [asdict(r) for r in rows],
             "totals": totals, "mismatches": mismatches}, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    failed = [s.name for s in steps.values() if not s.ok]
    if failed:
        print(f"FAILED steps: {', '.join(failed)}", file=sys.stderr)
    return 1 if mismatches or failed else 0


def phase_table(steps: dict[str, Step]) -> str:
    lines = ["| script | landing CPU s | pricing CPU s | process CPU s (start-up included) |", "|---|---|---|---|"]
    for key in ("floor", "floor_plus", "polars", "pandas"):
        step = steps.get(key)
        if step and step.phases:
            lines.append(f"| {step.name} | {step.phases['landing']['cpu']:.1f} | {step.phases['pricing']['cpu']:.1f} "
                         f"| {step.cpu:.1f} |")
    return "\n".join(lines)


def build_rows(steps: dict[str, Step], requests: int) -> list[Row]:
    floor, floor_plus = steps.get("floor"), steps.get("floor_plus")
    floor_cpu = floor.cpu if floor and floor.ok else None
    land_cpu = floor.phases["landing"]["cpu"] if floor and floor.phases else None
    price_cpu = floor.phases["pricing"]["cpu"] if floor and floor.phases else None
    plus_cpu = floor_plus.cpu if floor_plus and floor_plus.ok else None
    polars = steps.get("polars")
    rows: list[Row] = []
    if floor:
        rows.append(_row(floor, "floor: one DuckDB script, land + price (start-up included)", floor_cpu, "floor"))
    if polars:
        rows.append(_row(polars, "polars script", floor_cpu, "floor"))
    if "pandas" in steps:
        rows.append(_row(steps["pandas"], "pandas script", floor_cpu, "floor"))
    for key in ("dagster_start", "dbt_parse", "dbt_parse_partial"):
        if key in steps:
            rows.append(_row(steps[key], f"fixed cost: {steps[key].name}", floor_cpu, "floor"))
    if "landing" in steps:
        rows.append(_row(steps["landing"], "project: landing (ingest.warehouse)", land_cpu, "floor landing", 1.5,
                         "<= 1.5x floor landing"))
    if "build" in steps:
        rows.append(_row(steps["build"], "project: full `dbt build` (data tests, no unit tests)", price_cpu,
                         "floor pricing"))
    if "landing" in steps and "build" in steps:
        rows.append(_row(steps["landing"] + steps["build"], "project: landing + full build", floor_cpu, "floor", 2.0,
                         "<= 2x floor"))
    if "run" in steps:
        run = steps["run"] + steps["summary"] if "summary" in steps else steps["run"]
        limit = 3.0 if requests <= 1_000_000 else None
        rows.append(_row(run, "project: `make run` path (dagster_project.run + summary)", floor_cpu, "floor", limit,
                         "<= 3x floor (at 1M)" if limit else ""))
        if polars and polars.ok:
            ratio = run.cpu / polars.cpu
            rows.append(Row("project: `make run` path vs polars", None, None, None, f"{ratio:.2f}x polars",
                            "< 1x polars", "yes" if ratio < 1 and run.ok else "no"))
    if floor_plus:
        rows.append(_row(floor_plus, "floor: recomputing everything with one more day", plus_cpu, "floor + day"))
    if "inc_landing" in steps and "inc_build" in steps:
        rows.append(_row(steps["inc_landing"] + steps["inc_build"], "project: one more day, landing + `dbt build`",
                         plus_cpu, "floor + day", 0.25, "<= 0.25x floor recomputing"))
    if "inc_run" in steps:
        rows.append(_row(steps["inc_run"], "project: one more day, `python -m dagster_project.run`", plus_cpu,
                         "floor + day", 0.25, "<= 0.25x floor recomputing"))
    project = [s for k, s in steps.items() if k not in ("floor", "floor_plus", "polars", "pandas")]
    if project:
        peak = max(project, key=lambda s: s.rss_mib)
        limit = "<= 2048 MiB (at 10M)"
        met = ("yes" if peak.rss_mib <= 2048 else "no") if requests >= 10_000_000 else ""
        rows.append(Row(f"project: peak RSS of any step ({peak.name})", None, None, peak.rss_mib, "", limit, met))
    return rows


def check(totals: dict[str, dict | None]) -> list[str]:
    reference = totals.get("floor")
    reference_plus = totals.get("floor_plus")
    out = []
    for name, value in totals.items():
        if name in ("floor", "floor_plus"):
            continue
        ref = reference_plus if "one more day" in name else reference
        if ref is None:
            continue
        if value is None:
            out.append(f"{name}: no totals (the step failed)")
            continue
        other = value if "daily_mart" in value else with_daily_mart(value)
        out += [f"{name} vs floor: {diff}" for diff in differences(with_daily_mart(ref), other)]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
