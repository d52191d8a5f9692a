"""A run killed mid-landing (SIGKILL: nothing of it gets to clean up) does not wedge the pipeline: the next
`python -m dagster_project.run` marks it failed, frees its `duckdb_writer` slot and finishes, and the marts equal
a clean build of the same data. Plus the liveness rules of dagster_project/dead_runs.py on real processes."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.events import EngineEventData
from dagster._core.storage.dagster_run import DagsterRunStatus

from dagster_project.dead_runs import (
    BOOT_ID_TAG,
    HOST_TAG,
    PID_STARTED_TAG,
    PID_TAG,
    process_started_at,
    process_tags,
    recover_dead_runs,
)
from dagster_project.defs.automation.dead_runs import dead_run_cleanup
from dagster_project.resources import DUCKDB_WRITER_POOL
from tests.conftest import FIXTURES, write_fixture_data

PROJECT = Path(__file__).resolve().parents[2]
# The valid lines of the first fixture day landed again from a second file: all of them duplicates, so the marts
# equal the fixture's while landing takes seconds, long enough to be killed in the middle of it (landing validates
# clean lines in bulk since issue 10, about 80,000 lines per CPU-second: 40,000 lines were done within the second).
REPLAY_LINES = 400_000
MARTS = {  # table -> its key, for a stable order
    "ai_usage_analytics": "request_id",
    "ai_revenue_analytics": "date",
    "user_ai_usage_summary": "user_id, date",
    "model_popularity": "model",
}
BUILD_TIME_COLUMNS = {"priced_at", "updated_at"}  # when a row was written: differs between any two builds


def _marts(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    tables = {}
    for table, key in MARTS.items():
        columns = [row[0] for row in con.execute(f"describe {table}").fetchall() if row[0] not in BUILD_TIME_COLUMNS]
        tables[table] = con.execute(f"select {', '.join(columns)} from {table} order by {key}").fetchall()
    return tables


class Run:
    """`python -m dagster_project.run` in its own process group, its output read line by line in a thread."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dagster_project.run"], cwd=PROJECT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        self.kill()
        raise AssertionError(f"{text!r} not seen within {timeout} s; output:\n{''.join(self.lines[-40:])}")

    def drain(self) -> list[str]:
        """The output so far (without waiting)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return self.lines
            if line is None:
                self._queue.put(None)
                return self.lines
            self.lines.append(line)

    def finish(self, timeout: float) -> int:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"run did not finish within {timeout} s:\n{''.join(self.lines[-40:])}") from None
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return self.process.returncode

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


@pytest.fixture
def project(tmp_path: Path) -> dict[str, str]:
    """A Dagster home with the project's instance settings and a data dir whose landing takes seconds."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    data_dir = write_fixture_data(tmp_path / "data")
    day = [line for line in (FIXTURES / "gateway" / "2026-11-20.jsonl").read_text().splitlines()
           if line.startswith('{"id":')]
    replay = data_dir / "raw" / "gateway" / "2026-11-20.replay.jsonl"  # lands after 2026-11-20.jsonl (by name)
    replay.write_text("".join(day[i % len(day)] + "\n" for i in range(REPLAY_LINES)))
    return {**os.environ, "DAGSTER_HOME": str(home), "AI_USAGE_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT)}


@pytest.mark.slow
def test_a_run_killed_mid_landing_does_not_wedge_the_next(project: dict[str, str], built_warehouse: Path):
    data_dir = Path(project["AI_USAGE_DATA_DIR"])
    os.environ["DAGSTER_HOME"], saved_home = project["DAGSTER_HOME"], os.environ.get("DAGSTER_HOME")
    try:
        killed = Run(project)
        killed.wait_for("reading gateway log files", timeout=240)
        time.sleep(1.0)
        assert not any("gateway files:" in line for line in killed.drain())  # still landing
        killed.kill()
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
            landed = {row[0] for row in con.execute("select source from raw.load_log").fetchall()}
        assert not any(source.endswith("2026-11-20.replay.jsonl") for source in landed)  # killed in the middle

        with dg.DagsterInstance.get() as instance:
            [dead] = instance.get_run_records()
            assert dead.dagster_run.status == DagsterRunStatus.STARTED  # nothing of the run got to clean up
            assert dead.dagster_run.tags[PID_TAG] == str(killed.process.pid)
            slots = instance.event_log_storage.get_concurrency_info(DUCKDB_WRITER_POOL).claimed_slots
            assert [(slot.run_id, slot.step_key) for slot in slots] == [(dead.dagster_run.run_id, "gateway_log_files")]

        again = Run(project)
        assert again.finish(timeout=300) == 0, "".join(again.lines[-40:])
        cleanup = [line for line in again.lines if "died without finishing" in line]
        assert len(cleanup) == 1
        assert re.fullmatch(
            rf"run {dead.dagster_run.run_id} \(started \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC, pid "
            rf"{killed.process.pid}\) died without finishing: marked failed, its writer slot freed\n",
            cleanup[0],
        )
        with dg.DagsterInstance.get() as instance:
            runs = {r.dagster_run.run_id: r.dagster_run for r in instance.get_run_records()}
            assert runs.pop(dead.dagster_run.run_id).status == DagsterRunStatus.FAILURE
            assert [run.status for run in runs.values()] == [DagsterRunStatus.SUCCESS]
            failure = instance.all_logs(dead.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert failure[0].dagster_event.message.startswith(
                f"The run's process (pid {killed.process.pid} on {process_tags()[HOST_TAG]}) is gone"
            )
            info = instance.event_log_storage.get_concurrency_info(DUCKDB_WRITER_POOL)
            assert (info.claimed_slots, info.pending_steps) == ([], [])
    finally:
        if saved_home is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved_home

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select count(*) from raw.load_log where lines_read <> accepted + duplicates + quarantined"
        ).fetchone() == (0,)
        replay = con.execute(
            "select lines_read, accepted, duplicates, quarantined from raw.load_log "
            "where source like '%2026-11-20.replay.jsonl'"
        ).fetchall()
        assert replay == [(REPLAY_LINES, 0, REPLAY_LINES, 0)]  # landed once, whole, by the second run
        recovered = _marts(con)
    with duckdb.connect(str(built_warehouse / "warehouse.duckdb"), read_only=True) as con:
        clean = _marts(con)  # the fixture built from scratch in one run
    assert [len(rows) for rows in recovered.values()] == [10, 2, 7, 3]  # the comparison compares something
    assert recovered == clean


@pytest.fixture
def instance(tmp_path: Path):
    """An instance with the project's settings in tmp (SQLite storage, as .dagster_home), with the writer pool."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.local_temp(str(home)) as local:
        local.event_log_storage.set_concurrency_slots(DUCKDB_WRITER_POOL, 1)
        yield local


@pytest.fixture
def processes():
    """Real processes to stand for run workers (each sleeps at most two minutes); killed at the end."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]))
        return started[-1]

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=30)


def _stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=30)  # reaped: no zombie left behind


def _run(instance: dg.DagsterInstance, tags: dict[str, str], status=DagsterRunStatus.STARTED,
         step: str = "gateway_log_files") -> str:
    """A run in `status` whose step `step` claims the writer slot (or waits for it when it is taken)."""
    run = dg.DagsterRun(job_name="materialize_everything", status=status, tags=tags)
    instance.add_run(run)
    instance.event_log_storage.claim_concurrency_slot(DUCKDB_WRITER_POOL, run.run_id, step)
    return run.run_id


def _status(instance: dg.DagsterInstance, run_id: str) -> DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def _pool(instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    """Runs holding a writer slot, runs with a step in the pool's queue (a claimer stays listed there too)."""
    info = instance.event_log_storage.get_concurrency_info(DUCKDB_WRITER_POOL)
    return sorted(slot.run_id for slot in info.claimed_slots), sorted(step.run_id for step in info.pending_steps)


def test_a_live_run_keeps_its_slot_and_a_dead_one_is_cleared(instance, processes):
    alive, dead = processes(), processes()
    live_run = _run(instance, process_tags(alive.pid))
    dead_tags = process_tags(dead.pid)
    _stop(dead)
    waiting_run = _run(instance, dead_tags)  # blocked behind the live run: its step waits in the pool
    assert _pool(instance) == ([live_run], sorted([live_run, waiting_run]))

    messages: list[str] = []
    assert recover_dead_runs(instance, log=messages.append) == [waiting_run]
    assert messages == [f"run {waiting_run} (started at an unknown time, pid {dead.pid}) died without finishing: "
                        "marked failed, its steps no longer wait for the writer slot"]
    assert (_status(instance, live_run), _status(instance, waiting_run)) == (
        DagsterRunStatus.STARTED, DagsterRunStatus.FAILURE)
    assert _pool(instance) == ([live_run], [live_run])

    _stop(alive)
    messages.clear()
    assert recover_dead_runs(instance, log=messages.append) == [live_run]
    assert messages == [f"run {live_run} (started at an unknown time, pid {alive.pid}) died without finishing: "
                        "marked failed, its writer slot freed"]
    assert _pool(instance) == ([], [])
    assert recover_dead_runs(instance, log=messages.append) == []  # nothing twice


def test_a_reused_pid_a_reboot_and_a_silent_run_are_dead(instance, processes, monkeypatch):
    other = processes()  # alive, but not the process that ran these runs
    reused = {**process_tags(other.pid), PID_STARTED_TAG: f"{process_started_at(other.pid) - 100:.2f}"}
    rebooted = {**process_tags(other.pid), BOOT_ID_TAG: "00000000-0000-0000-0000-000000000000"}
    reused_run = _run(instance, reused)
    rebooted_run = _run(instance, rebooted)
    silent_run = _run(instance, {}, step="raw__users")  # no tags, and never said which process runs it
    assert set(recover_dead_runs(instance, log=lambda message: None)) == {reused_run, rebooted_run}
    assert _status(instance, silent_run) == DagsterRunStatus.STARTED  # it may be starting: a minute's grace
    monkeypatch.setattr("dagster_project.dead_runs.NO_PROCESS_GRACE_SECONDS", -1.0)
    messages: list[str] = []
    assert recover_dead_runs(instance, log=messages.append) == [silent_run]
    assert messages == [f"run {silent_run} (started at an unknown time, no process recorded) died without "
                        "finishing: marked failed, its steps no longer wait for the writer slot"]
    assert _pool(instance) == ([], [])


def test_a_run_of_make_dev_is_judged_by_the_pid_dagster_records(instance, processes):
    """Runs launched by the daemon or the UI carry no tags of ours: Dagster's own engine event names the run
    worker's pid ("Started process for run (pid: N)")."""
    worker = processes()
    run_id = _run(instance, {})
    run = instance.get_run_by_id(run_id)
    instance.report_engine_event(f"Started process for run (pid: {worker.pid}).", run,
                                 EngineEventData.in_process(worker.pid))
    assert recover_dead_runs(instance, log=lambda message: None) == []
    _stop(worker)
    assert recover_dead_runs(instance, log=lambda message: None) == [run_id]
    assert _pool(instance) == ([], [])


def test_a_run_of_another_host_is_left_alone(instance, processes):
    elsewhere = _run(instance, {**process_tags(processes().pid), HOST_TAG: "some-other-host"})
    messages: list[str] = []
    assert recover_dead_runs(instance, log=messages.append) == []
    assert _status(instance, elsewhere) == DagsterRunStatus.STARTED
    assert messages == [f"run {elsewhere} holds a duckdb_writer slot and runs on host some-other-host: it cannot "
                        "be checked from here; if it is dead, mark it failed in the Dagster UI (Runs -> Terminate)"]


def test_an_ended_run_that_still_holds_the_slot_lets_go_once_its_process_is_gone(instance, processes):
    """E.g. a run of `make dev` that the code server marked failed when its worker died: its slot stays taken
    until run monitoring frees it (or this)."""
    worker = processes()
    ended = _run(instance, process_tags(worker.pid), status=DagsterRunStatus.FAILURE)
    messages: list[str] = []
    assert recover_dead_runs(instance, log=messages.append) == []
    assert _pool(instance) == ([ended], [ended])  # its process is still exiting: it lets go itself
    _stop(worker)
    assert recover_dead_runs(instance, log=messages.append) == []
    assert messages == [f"run {ended} (ended FAILURE) still had a slot in the writer pool: freed"]
    assert _pool(instance) == ([], [])
    assert _status(instance, ended) == DagsterRunStatus.FAILURE


def test_this_process_is_tagged_with_its_start():
    tags = process_tags()
    assert (tags[PID_TAG], tags[HOST_TAG]) == (str(os.getpid()), socket.gethostname())
    assert abs(process_started_at(os.getpid()) - float(tags[PID_STARTED_TAG])) < 0.01
    assert process_started_at(2**22 + 1) is None  # above the largest pid Linux hands out: no such process


def test_the_sensor_clears_dead_runs_under_make_dev(instance, processes):
    """`make dev`'s daemon ticks the sensor every minute: a run whose worker died with a previous `make dev` (a
    reboot) does not block the sensor's and the schedule's runs."""
    worker = processes()
    run_id = _run(instance, process_tags(worker.pid))
    _stop(worker)
    result = dead_run_cleanup(dg.build_sensor_context(instance=instance))
    assert result.skip_message == "marked 1 dead runs failed"
    assert (_status(instance, run_id), _pool(instance)) == (DagsterRunStatus.FAILURE, ([], []))
    assert dead_run_cleanup(dg.build_sensor_context(instance=instance)).skip_message == "no dead run"
