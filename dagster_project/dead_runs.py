"""Runs that died without finishing: found, marked failed, and their `duckdb_writer` slot freed.

A run killed by SIGKILL (out of memory, a reboot, a closed terminal) cannot say that it stopped: it stays STARTED
in the Dagster instance and keeps its slot in the pool `duckdb_writer` (limit 1), and every later run waits for it
for ever ("Step blocked by limit for pool duckdb_writer"). Dagster's run monitoring does not notice: the default
run launcher has no run-worker health check, and nothing watches the in-process runs of `make run`.

A run is judged by its run worker's process, on this machine:
- `make run` tags its runs with the process (`ai_usage/pid`, `ai_usage/host`, `ai_usage/boot_id`,
  `ai_usage/pid_started`); other runs (`make dev`, sensors, schedules, the CLI) are identified by the process id
  that Dagster records when the run worker starts executing ("Started process for run (pid: N)", "Executing steps
  in process (pid: N)", ...), before any step can take a slot.
- The process is gone (or is a zombie), or its pid now belongs to a process started after the run's, or the
  machine rebooted since: the run is dead. A STARTED run that never recorded a process (a minute after its
  start) is dead too.
- A run of another host is left alone (its process cannot be checked from here), and so is every run whose
  process is alive: a run of `make dev` in progress is never touched.

`recover_dead_runs` does the cleanup; `make run` calls it before it launches and, while its run waits, every
30 seconds; under `make dev` the sensor `dead_run_cleanup` (defs/automation/dead_runs.py) calls it every minute.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType, JobFailureData, RunFailureReason
from dagster._core.storage.dagster_run import FINISHED_STATUSES, DagsterRunStatus, RunsFilter

from dagster_project.resources import DUCKDB_WRITER_POOL
from ingest.warehouse import process_exists

PID_TAG = "ai_usage/pid"
HOST_TAG = "ai_usage/host"
BOOT_ID_TAG = "ai_usage/boot_id"
PID_STARTED_TAG = "ai_usage/pid_started"  # the process's start, seconds since the epoch
# Statuses in which a run has (or is about to have) a worker process that could hold a slot.
LIVE_STATUSES = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
# How long a STARTED run may go without recording its process before it counts as dead.
NO_PROCESS_GRACE_SECONDS = 60.0
# A pid whose process started this long after the run's worker is a different (reused) process.
CLOCK_SLACK_SECONDS = 2.0


def host_name() -> str:
    return socket.gethostname()


def boot_id() -> str | None:
    """The Linux boot id: different after every reboot (None elsewhere)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def process_started_at(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), from /proc; None when it does not exist or is a
    zombie. Raises OSError where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3, starttime field 22
    if fields[0] in ("Z", "X"):
        return None
    boot_time = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("btime "))
    return boot_time + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_tags(pid: int | None = None) -> dict[str, str]:
    """Run tags that say which process runs a run (this one by default), for `make run`'s in-process runs."""
    pid = os.getpid() if pid is None else pid
    tags = {PID_TAG: str(pid), HOST_TAG: host_name()}
    if (boot := boot_id()) is not None:
        tags[BOOT_ID_TAG] = boot
    try:
        started = process_started_at(pid)
    except OSError:
        started = None
    if started is not None:
        tags[PID_STARTED_TAG] = f"{started:.2f}"
    return tags


@dataclass(frozen=True)
class RunWorker:
    """The process that runs a run, as far as the instance knows."""

    pid: int
    seen_at: float | None  # when the process was known to run it (its start, or the event that named it)
    host: str | None = None  # None: this machine (the instance is a local SQLite directory)
    boot_id: str | None = None


def run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunWorker | None:
    """The run's worker process: from `make run`'s tags, else the last pid Dagster recorded for the run worker
    (engine events of the run, not of a step)."""
    tags = run.tags
    if tags.get(PID_TAG, "").isdigit():
        started = tags.get(PID_STARTED_TAG, "")
        seen_at = float(started) if re.fullmatch(r"\d+(\.\d+)?", started) else None
        return RunWorker(
            pid=int(tags[PID_TAG]),
            seen_at=seen_at if seen_at is not None else _first_event_time(instance, run.run_id),
            host=tags.get(HOST_TAG),
            boot_id=tags.get(BOOT_ID_TAG),
        )
    worker = None
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        if event is None or event.step_key or event.engine_event_data is None:
            continue
        pid = event.engine_event_data.metadata.get("pid")
        if pid is not None and str(pid.value).isdigit():
            worker = RunWorker(pid=int(pid.value), seen_at=entry.timestamp)
    return worker


def _first_event_time(instance: dg.DagsterInstance, run_id: str) -> float | None:
    records = instance.get_records_for_run(run_id, limit=1).records
    return records[0].event_log_entry.timestamp if records else None


def worker_is_dead(worker: RunWorker) -> bool | None:
    """True: the process is gone. False: it is alive. None: it runs on another host and cannot be checked."""
    if worker.host is not None and worker.host != host_name():
        return None
    current_boot = boot_id()
    if worker.boot_id is not None and current_boot is not None and worker.boot_id != current_boot:
        return True  # the machine rebooted since: every process of that boot is gone
    try:
        started = process_started_at(worker.pid)
    except OSError:
        return not process_exists(worker.pid)
    if started is None:
        return True
    # The pid belongs to a process started after the run's worker: the worker is gone and its pid reused.
    return worker.seen_at is not None and started > worker.seen_at + CLOCK_SLACK_SECONDS


def _pool_holders(instance: dg.DagsterInstance) -> dict[str, bool]:
    """Run id -> True when it holds a pool slot, False when it only has steps waiting for one."""
    storage = instance.event_log_storage
    holders: dict[str, bool] = {}
    if not storage.supports_global_concurrency_limits:
        return holders
    for key in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(key)
        for step in info.pending_steps:
            holders.setdefault(step.run_id, False)
        for slot in info.claimed_slots:
            holders[slot.run_id] = True
    return holders


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "at an unknown time"
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def recover_dead_runs(instance: dg.DagsterInstance, *, log: Callable[[str], None] = print) -> list[str]:
    """Mark failed every run of `instance` whose worker process died without finishing it, and free the pool
    slots (and waiting steps) of dead and finished runs. Says what it did in one line per run, through `log`;
    returns the ids of the runs it marked failed."""
    now = datetime.now(timezone.utc).timestamp()
    holders = _pool_holders(instance)
    failed: list[str] = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=LIVE_STATUSES)):
        run = record.dagster_run
        worker = run_worker(instance, run)
        if worker is None:
            started = record.start_time or record.create_timestamp.timestamp()
            dead = run.status == DagsterRunStatus.STARTED and now - started > NO_PROCESS_GRACE_SECONDS
        else:
            dead = worker_is_dead(worker)
        if dead is None and run.run_id in holders:
            log(f"run {run.run_id} holds a {DUCKDB_WRITER_POOL} slot and runs on host {worker.host}: it cannot be "
                f"checked from here; if it is dead, mark it failed in the Dagster UI (Runs -> Terminate)")
        if not dead:
            continue
        pid = f"pid {worker.pid}" if worker else "no process recorded"
        where = f" on {worker.host}" if worker and worker.host else ""
        instance.report_run_failed(
            run,
            f"The run's process ({pid}{where}) is gone: it was killed (SIGKILL, out of memory, a reboot or a closed "
            f"terminal) before the run finished. Marked failed so that later runs can take the "
            f"{DUCKDB_WRITER_POOL} slot; run it again to finish the work (landing is exactly once).",
            JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
        )
        if run.run_id in holders:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        freed = {True: ", its writer slot freed", False: ", its steps no longer wait for the writer slot"}
        log(f"run {run.run_id} (started {_when(record.start_time)}, {pid}) died without finishing: marked failed"
            + freed.get(holders.get(run.run_id), ""))
        failed.append(run.run_id)
    _free_slots_of_ended_runs(instance, holders, set(failed), log)
    return failed


def _free_slots_of_ended_runs(instance: dg.DagsterInstance, holders: dict[str, bool], done: set[str],
                              log: Callable[[str], None]) -> None:
    """Slots still held by runs that ended (marked failed elsewhere, e.g. by the code server when its run worker
    died) or that no longer exist, once their process is gone."""
    for run_id in sorted(set(holders) - done):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status not in FINISHED_STATUSES:
            continue
        worker = run_worker(instance, run) if run is not None else None
        if worker is not None and worker_is_dead(worker) is not True:
            continue  # still exiting: it frees its slot itself
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        state = f"ended {run.status.value}" if run is not None else "deleted"
        what = "a slot" if holders[run_id] else "steps waiting for a slot"
        log(f"run {run_id} ({state}) still had {what} in the writer pool: freed")


@contextmanager
def watching_for_dead_runs(every_seconds: float = 30.0, log: Callable[[str], None] = print) -> Iterator[None]:
    """Run `recover_dead_runs` every `every_seconds` in a background thread (with its own instance) while the
    block runs: a run that dies while this process waits for its slot does not keep this one waiting."""
    stop = threading.Event()

    def watch() -> None:
        with dg.DagsterInstance.get() as instance:
            while not stop.wait(every_seconds):
                try:
                    recover_dead_runs(instance, log=log)
                except Exception as error:  # never let housekeeping break the run it watches
                    log(f"checking for dead runs failed: {error!r}")

    thread = threading.Thread(target=watch, name="dead-run-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_seconds)
