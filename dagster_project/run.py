"""`python -m dagster_project.run` (what `make run` calls): materialize every asset for what is new in the drop zone.

The run covers the daily partitions that the new or changed log files touch (from the first dated line of each such
file, bounded, to the day of its last write; on the first run, every file), recorded in the Dagster instance of
$DAGSTER_HOME so that `make dev` shows it. `--from DAY --to DAY` backfills a range of days instead. Whatever the
days, the dbt models price every new request, and the outputs (exports, report, alerts) are written from the marts.

With nothing new since the last successful run (same log files by name, size and mtime, same users export, same
dbt project and code, the warehouse and outputs as that run left them, no gateway API or price list configured, no
alert left undelivered) it says so and stops before starting Dagster or dbt; `--force` runs anyway.

The terminal shows a few lines per step; Dagster's whole event stream goes to `<data dir>/logs/run-<id>.log`, whose
path is printed (dagster_project/progress.py).

Before it launches, and every 30 seconds while its run waits for the writer slot, runs of the instance whose process
died without finishing (killed, out of memory, a reboot) are marked failed and their slot freed
(`dagster_project/dead_runs.py`): a killed run never blocks the next one.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import hashlib
import importlib.abc
import io
import json
import os
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dagster_project.publish.files import stat_key
from dagster_project.settings import PROJECT_ROOT, default_data_dir, lookback_days, partition_range_tags
from ingest.drop_zone import Changes, drop_zone_changes, first_day, mtime_day
from ingest.files import gateway_dir
from ingest.ledger import ledger_path

STATE_FILE = "last_run.json"  # under <data dir>/logs/: what the last successful run saw
# Settings that make every run do work: data outside the drop zone may be new (API pull, price list).
ALWAYS_RUN_ENV = ("AI_GATEWAY_BASE_URL", "AI_GATEWAY_ACCOUNT_ID", "AI_GATEWAY_ID", "AI_GATEWAY_API_TOKEN",
                  "AI_USAGE_PRICE_LIST_URL")
# What the run's result depends on besides the data: the dbt project and the code.
SOURCE_FOLDERS = ("dbt_project/models", "dbt_project/macros", "dbt_project/seeds", "dbt_project/tests",
                  "dagster_project", "ingest")
SOURCE_FILES = ("dbt_project/dbt_project.yml", "dbt_project/profiles.yml")
OUTPUTS = ("exports", "reports/index.html")
# The project's one Dagster instance (make run, make dev, the sensor, the README's CLI recipes): see the Makefile.
DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"


def use_project_instance() -> Path:
    """$DAGSTER_HOME, or the project's `.dagster_home` when it is unset (a README recipe run without make): the
    same instance that `make dev` shows and whose pool and memory (the sensor's) this run shares."""
    if not os.environ.get("DAGSTER_HOME", "").strip():
        os.environ["DAGSTER_HOME"] = str(DAGSTER_HOME)
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, help="last UTC day (default: today)")
    parser.add_argument("--force", action="store_true", help="run even when nothing is new")
    args = parser.parse_args(argv)
    use_project_instance()
    data_dir = default_data_dir()
    today = datetime.now(timezone.utc).date()
    previous = read_state(data_dir)
    changes = known_changes(data_dir, previous.get("drop_zone", {}))
    files = changes.listing.files
    if changes.listing.refused or changes.listing.near_misses:
        print(f"not loaded: {len(changes.listing.refused)} refused and {len(changes.listing.near_misses)} near-miss "
              "entries in the drop zone (the ingest step names them; table raw.drop_zone_refusals)", flush=True)
    state = current_state(data_dir, changes)
    reasons = reasons_to_run(previous, state, data_dir)
    if not (reasons or args.first or args.last or args.force):
        print(f"nothing new since the last run ({previous.get('finished_at', '?')}): {len(files)} log files, the "
              f"users export, the dbt project and the warehouse are as that run left them. Nothing to do "
              f"(`python -m dagster_project.run --force` runs anyway).", flush=True)
        return 0
    first, last = days_to_run(changes, today, args.first, args.last)
    tags = partition_range_tags(first, last)
    print(f"run: {'; '.join(reasons) or 'asked for'}; days {tags['dagster/asset_partition_range_start']}.."
          f"{tags['dagster/asset_partition_range_end']} ({len(files)} log files in {gateway_dir(data_dir)})",
          flush=True)
    started = time.monotonic()
    result, log_path = execute(tags, data_dir)
    seconds = time.monotonic() - started
    if not result.success:
        failed = sorted({event.step_key for event in result.all_events if event.is_step_failure})
        print(f"the run failed in {', '.join(failed) or 'its set-up'} after {seconds:.0f} s: the error is above, the "
              f"whole log in {log_path}. What landed stays landed; fix the cause and run again.", file=sys.stderr)
        return 1
    write_state(data_dir, {**state, "undelivered_alerts": undelivered_alerts(result), "run_id": result.run_id})
    print(f"run {result.run_id} succeeded in {seconds:.0f} s; full log: {log_path}", flush=True)
    return 0


def landed_files(data_dir: Path, state: dict[str, list[int]]) -> dict[str, list[int]]:
    """The files of a drop-zone state ({name: [size, mtime_ns]}) that the landing ledger shows landed as they are
    now: an entry for that path with the same size, written after the file's last write. Whoever landed them (`make
    run`, the sensor's or the schedule's run, the UI, a CLI recipe), they are not new: the sensor and `make run` both
    start from this. Read-only on purpose (a run may be appending): an unfinished or malformed line is ignored, so a
    file it names counts as new, and the run that follows skips it by its stat without reading it."""
    try:
        text = ledger_path(data_dir).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    landed: dict[str, tuple[int, str]] = {}
    for row in csv.reader(io.StringIO(text[: text.rfind("\n") + 1], newline="")):
        if len(row) == 6 and row[2].startswith("raw/gateway/") and row[3].isdigit():
            landed[row[2].removeprefix("raw/gateway/")] = (int(row[3]), row[5])  # the latest entry wins
    known = {}
    for name, (size, mtime_ns) in state.items():
        entry = landed.get(name)
        if entry and entry[0] == size and entry[1] >= _utc_text(mtime_ns):
            known[name] = [size, mtime_ns]
    return known


def _utc_text(ns: int) -> str:
    """A file's mtime in the ledger's landed_at format (ISO, UTC, microseconds, Z), which sorts as text."""
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def known_changes(data_dir: Path, seen: dict[str, list[int]]) -> Changes:
    """The drop zone's files new or changed since `seen` (a state recorded earlier), less those that the landing
    ledger shows landed as they are (by another run of the same instance: the sensor's after `make run`, or the
    reverse)."""
    changes = drop_zone_changes(data_dir, seen)
    if not changes.changed:
        return changes
    landed = landed_files(data_dir, changes.state)
    folder = gateway_dir(data_dir)
    changed = [log_file for log_file in changes.changed
               if log_file.path.relative_to(folder).as_posix() not in landed]
    return Changes(changes.listing, changes.state, changed)


def days_to_run(changes: Changes, today: date, first: date | None, last: date | None) -> tuple[date, date]:
    """The days the new or changed files touch: from the earliest first dated line among them (each file's first
    lines; an earlier line further down lands and is priced all the same) to the latest day one of them was
    written. No such file: today. With the gateway API configured, the schedule's lookback window as well."""
    touched = [first_day(log_file.path) or mtime_day(log_file) for log_file in changes.changed]
    written = [mtime_day(log_file) for log_file in changes.changed]
    days = [*touched, *written] or [today]
    if any(os.environ.get(name, "").strip() for name in ALWAYS_RUN_ENV[:4]):
        days.append(today - timedelta(days=1 + lookback_days()))
    return first or min(days), last or min(max(days), today)


def state_path(data_dir: Path) -> Path:
    return data_dir / "logs" / STATE_FILE


def read_state(data_dir: Path) -> dict:
    try:
        state = json.loads(state_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(data_dir: Path, state: dict) -> None:
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**state, "warehouse": stat_key(data_dir / "warehouse.duckdb"),
                               "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")},
                              sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def sources_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """SHA-256 over the dbt project and the code (paths and bytes): a change re-runs everything it affects."""
    digest = hashlib.sha256()
    paths = [root / name for name in SOURCE_FILES]
    for folder in SOURCE_FOLDERS:
        paths += [path for path in (root / folder).rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"]
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def current_state(data_dir: Path, changes: Changes) -> dict:
    return {"drop_zone": changes.state, "users": stat_key(data_dir / "raw" / "users.csv"),
            "sources": sources_fingerprint()}


def reasons_to_run(previous: dict, state: dict, data_dir: Path) -> list[str]:
    """Why this run has work to do (empty: nothing is new since the last successful run)."""
    if not previous:
        return ["first run" if not (data_dir / "warehouse.duckdb").exists() else "no record of a previous run"]
    reasons = []
    changed = [name for name, stat in state["drop_zone"].items() if previous.get("drop_zone", {}).get(name) != stat]
    if changed:
        reasons.append(f"{len(changed)} new or changed log files")
    if set(previous.get("drop_zone", {})) - set(state["drop_zone"]):
        reasons.append("log files removed")
    if previous.get("users") != state["users"]:
        reasons.append("users export changed")
    if previous.get("sources") != state["sources"]:
        reasons.append("dbt project or code changed")
    if previous.get("warehouse") != stat_key(data_dir / "warehouse.duckdb") or (
            data_dir / "warehouse.duckdb.wal").exists():
        reasons.append("warehouse changed since the last run")
    if not all((data_dir / output).exists() for output in OUTPUTS):
        reasons.append("outputs missing")
    if previous.get("undelivered_alerts"):
        reasons.append(f"{previous['undelivered_alerts']} billing alerts still to deliver")
    configured = [name for name in ALWAYS_RUN_ENV if os.environ.get(name, "").strip()]
    if configured:
        reasons.append(f"{configured[0].removeprefix('AI_').lower()} set: data outside the drop zone")
    return reasons


ALERTS_ASSET = "billing_alert_notifications"


def undelivered_in(metadata) -> int:
    """The alerts a run of the alerts asset left undelivered, from its materialization's metadata."""
    return sum(int(metadata[name].value) for name in ("failed", "not_tried") if name in metadata)


def undelivered_alerts(result) -> int:
    for event in result.all_events:
        if event.is_step_materialization and event.asset_key.to_user_string() == ALERTS_ASSET:
            return undelivered_in(event.event_specific_data.materialization.metadata)
    return 0


def execute(tags: dict[str, str], data_dir: Path):
    """The job in this process, in the instance of $DAGSTER_HOME, after clearing runs that died without finishing;
    the run is tagged with this process so that a later run can tell whether it is still alive. Dagster's events go
    to the run's log file, a few lines of them to the terminal. Returns the result and the log file."""
    from dagster._core.utils import make_new_run_id

    from dagster_project import progress
    from dagster_project.dead_runs import process_tags, recover_dead_runs, watching_for_dead_runs
    from dagster_project.definitions import defs
    from dagster_project.defs.automation.schedules import materialize_everything
    from dagster_project.instance import project_instance, tag_check_outcomes
    from dagster_project.progress import DBT_STEP

    job = defs.resolve_job_def(materialize_everything.name)  # its "console" logger: progress.progress_logger
    run_id = make_new_run_id()
    log_path = data_dir / "logs" / f"run-{run_id}.log"
    dbt_nodes = sum(len(a.keys) for a in defs.resolve_asset_graph().assets_defs
                    if a.is_executable and a.node_def.name == DBT_STEP)
    print(f"run {run_id}: the full log is {log_path}", flush=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress.terminal = sys.stdout
    # dbt's own lines (dagster-dbt echoes them to stdout) go to the log file; the terminal gets progress.py's lines
    with project_instance() as instance, open(log_path, "a", encoding="utf-8", buffering=1) as log_file:
        recover_dead_runs(instance, log=_say)
        with watching_for_dead_runs(log=_say), contextlib.redirect_stdout(log_file):
            result = job.execute_in_process(
                instance=instance, run_id=run_id, tags={**tags, **process_tags()}, raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_path": str(log_path), "dbt_nodes": dbt_nodes}}}},
            )
        tag_check_outcomes(instance, run_id)
        # the whole process's cost, beside each step's (progress.py): what is left is Dagster's start and bookkeeping
        log_file.write(f"{datetime.now():%Y-%m-%d %H:%M:%S},000 INFO run process: {progress.cpu_seconds():.2f} CPU s "
                       f"since it started, {progress.child_cpu_seconds():.2f} of them in dbt\n")
    progress.terminal = None
    return result, log_path


def _say(message: str) -> None:
    """A line for the terminal, also while the run's stdout goes to its log file."""
    from dagster_project import progress

    print(message, file=progress.terminal or sys.stdout, flush=True)


class WithoutDbtCore(importlib.abc.MetaPathFinder):
    """Refuses to import the `dbt` package (dbt-core) in this process. dbt runs in its own process (`dbt build`,
    started by dagster-dbt); the Dagster process only reads dbt's manifest and its JSON log lines, which dagster-dbt
    does without dbt-core when it cannot import it (the mode it has for dbt Fusion; our `WarehouseDbtResource` reads
    dbt-core's version from the package metadata, so the CLI is still driven as dbt-core). Importing dbt-core would
    cost about 1.4 CPU s of each run's start (its mashumaro classes), for nothing this process uses: the asset graph,
    the dbt events, their metadata and checks are the same either way (tests/unit/test_run_path.py)."""

    def find_spec(self, name, path=None, target=None):  # noqa: ARG002 - the finder protocol
        if name == "dbt" or name.startswith("dbt."):
            raise ModuleNotFoundError(f"dbt-core is not imported in the process of dagster_project.run: {name}",
                                      name=name)
        return None


def without_dbt_core() -> None:
    """Install WithoutDbtCore, unless dbt-core is imported already (then it changes nothing)."""
    if "dbt" not in sys.modules and not any(isinstance(f, WithoutDbtCore) for f in sys.meta_path):
        sys.meta_path.insert(0, WithoutDbtCore())


def exit_now(code: int) -> None:
    """End the process with `code` once everything is flushed and closed, without the interpreter's teardown: after
    a run, freeing Dagster's, dbt's and DuckDB's thousands of modules and objects one by one costs about 1 CPU s for
    nothing. The atexit functions run first (logging flushes its handlers); files, connections and the Dagster
    instance are closed by then (`execute` closes them), and no thread is left (the dead-run watcher has stopped)."""
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is not None:
        run_exit_functions()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    without_dbt_core()
    exit_now(main())
