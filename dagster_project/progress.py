"""What `python -m dagster_project.run` (make run) shows: a few lines per step on the terminal, every event in a file.

Dagster's own event stream (debug included) goes to the log file whose path the run prints, e.g.
`<data dir>/logs/run-<run id>.log`. The terminal gets, per step: what the step itself says (files landed with their
counts, users, exports, report, alerts), a progress line every PROGRESS_SECONDS on long steps, for dbt the models
built and the tests passed and failed, every check that failed, warnings, and errors with the step's message.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from pathlib import Path
from typing import TextIO

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR

from ingest.settings import default_data_dir, logs_dir

DBT_STEP = "warehouse_dbt_models"
PROGRESS_SECONDS = 15.0  # at most one progress line per step this often
# dagster-dbt echoes every dbt line to sys.stdout, which `make run` sends to the log file while its run lasts: the
# terminal lines go to the stream that was stdout before (set by dagster_project/run.py).
terminal: TextIO | None = None
# What dagster-dbt says about every dbt test on a source (not an asset check in Dagster): for the log file only.
_announced: set[str] = set()  # the runs whose log file this process printed
NOT_FOR_THE_TERMINAL = ("Logging an `AssetObservation` instead of an `AssetCheckResult`",)


class TerminalHandler(logging.Handler):
    """A handler of Dagster's log records that prints the few lines a person follows (see the module docstring)."""

    def __init__(self, stream: TextIO, dbt_nodes: int = 0, prefix: str = ""):
        super().__init__(level=logging.DEBUG)
        self.stream = stream
        self.prefix = prefix  # under `dagster dev`, where runs may overlap: "run <id>:"
        self.dbt_nodes = dbt_nodes
        self.started: dict[str, float] = {}
        self.shown_progress: dict[str, float] = {}
        self.built = 0
        self.checks_passed: dict[str, int] = {}
        self.checks_failed: dict[str, int] = {}
        self.cpu_started: dict[str, float] = {}
        self.children_started: dict[str, float] = {}
        self.details: logging.Logger | None = None  # set by progress_logger: lines for the log file only

    def say(self, text: str, *, error: bool = False) -> None:
        stream = sys.stderr if error else self.stream
        stream.write(f"{self.prefix}{text}\n")
        stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            meta = getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}
            step = meta.get("step_key") or ""
            event = meta.get("dagster_event")
            if event is not None:
                self._event(step, event)
            elif record.levelno >= logging.WARNING:
                message = meta.get("orig_message", record.getMessage())
                if not message.startswith(NOT_FOR_THE_TERMINAL):
                    self.say(f"  {step or 'run'}: {message}".rstrip())
            elif record.levelno >= logging.INFO and step and step != DBT_STEP:
                self._step_message(step, meta.get("orig_message", record.getMessage()))
        except Exception:  # noqa: BLE001 - what the terminal shows must never break the run
            self.handleError(record)

    def _step_message(self, step: str, message: str) -> None:
        if message.startswith("["):  # "[3/30] file: ..." from the landing: a progress line, throttled
            now = time.monotonic()
            if now - self.shown_progress.get(step, self.started.get(step, now)) < PROGRESS_SECONDS:
                return
            self.shown_progress[step] = now
            message = f"... {message} ({now - self.started.get(step, now):.0f} s)"
        self.say(f"  {step}: {message}")

    def _event(self, step: str, event) -> None:
        kind = event.event_type
        now = time.monotonic()
        if kind == DagsterEventType.STEP_START:
            self.started[step] = now
            self.cpu_started[step] = cpu_seconds()
            self.children_started[step] = child_cpu_seconds()
            if step == DBT_STEP:
                self.say(f"  {step}: dbt build started ({self.dbt_nodes} models and seeds, their data tests)")
        elif kind == DagsterEventType.ASSET_MATERIALIZATION and step == DBT_STEP:
            self.built += 1
            if now - self.shown_progress.get(step, self.started.get(step, now)) >= PROGRESS_SECONDS:
                self.shown_progress[step] = now
                self.say(f"  {step}: ... {self.built} of {self.dbt_nodes} built "
                         f"({now - self.started.get(step, now):.0f} s)")
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.passed:
                self.checks_passed[step] = self.checks_passed.get(step, 0) + 1
            else:
                name = f"{evaluation.asset_key.to_user_string()}: {evaluation.check_name}"
                severity = getattr(evaluation.severity, "value", evaluation.severity)
                self.checks_failed[step] = self.checks_failed.get(step, 0) + 1
                detail = f": {evaluation.description}" if evaluation.description else ""
                self.say(f"  check failed ({severity}) {name}{detail}")
        elif kind == DagsterEventType.STEP_SUCCESS:
            seconds = now - self.started.get(step, now)
            if self.details is not None:  # the log file: what each step cost (this process and dbt's)
                children = child_cpu_seconds() - self.children_started.get(step, 0.0)
                self.details.info(f"{step}: {cpu_seconds() - self.cpu_started.get(step, 0.0):.2f} CPU s, "
                                  f"{seconds:.2f} s" + (f" ({children:.2f} CPU s in dbt)" if children >= 0.01 else ""))
            if step == DBT_STEP:
                self.say(f"  {step}: {self.built} models and seeds built, {self.checks_passed.get(step, 0)} tests "
                         f"passed, {self.checks_failed.get(step, 0)} failed ({seconds:.0f} s)")
            elif seconds >= 5:
                self.say(f"  {step}: done ({seconds:.0f} s)")
        elif kind == DagsterEventType.STEP_FAILURE:
            error = getattr(event.event_specific_data, "error", None)
            message = (error.message if error else event.message or "").strip()
            lines = [line for line in message.splitlines() if line.strip()]  # dbt's own error within the 12
            shown = "\n    ".join(lines[:12]) + ("\n    ..." if len(lines) > 12 else "")
            self.say(f"  {step} FAILED: {shown}", error=True)


def child_cpu_seconds() -> float:
    """User + system CPU seconds of this process's children that ended (dbt's build)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that ended (dbt's build)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _file_handler(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler


@dg.logger(
    config_schema={"log_path": dg.Field(str, is_required=False, default_value=""),
                   "dbt_nodes": dg.Field(int, default_value=0)},
    description="A few lines per step on the terminal, Dagster's whole event stream in log_path (default "
    "`<data dir>/logs/run-<run id>.log`, printed when the run starts).",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    """`make run` configures it (log_path, dbt_nodes); under `dagster dev` (the code location's default logger,
    dagster_project/definitions.py) each run's lines are prefixed with its id and its log file is printed first."""
    logger = logging.Logger("make_run", level=logging.DEBUG)
    log_path = init_context.logger_config["log_path"]
    prefix = ""
    if not log_path:
        run_id = init_context.run_id or "no-run"
        log_path = str(logs_dir(default_data_dir()) / f"run-{run_id}.log")
        prefix = f"run {run_id[:8]}: "
        if run_id not in _announced:  # Dagster may set up a run's loggers more than once
            _announced.add(run_id)
            stream = terminal or sys.stdout
            stream.write(f"{prefix}the full log is {log_path}\n")
            stream.flush()
    file_handler = _file_handler(Path(log_path))
    logger.addHandler(file_handler)
    handler = TerminalHandler(terminal or sys.stdout, init_context.logger_config["dbt_nodes"], prefix)
    handler.details = logging.Logger("make_run.steps", level=logging.INFO)
    handler.details.addHandler(file_handler)
    logger.addHandler(handler)
    return logger
