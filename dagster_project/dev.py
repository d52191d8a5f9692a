"""`make dev`: the Dagster UI (`dagster dev`) on the project's instance, that stops cleanly on Ctrl-C or SIGTERM.

`dagster dev` starts a webserver, a daemon and a code server. Left to itself, a SIGTERM (e.g. `kill` of make, which
passes it on) ends it at once and leaves those three running, and a Ctrl-C reaches all of them at the same time, so
that its own shutdown races theirs. Here it runs in a process group of its own: on SIGINT or SIGTERM this process
asks it to stop (SIGINT, its graceful path), waits up to STOP_SECONDS, then ends whatever of the group is left.

    python -m dagster_project.dev [--port 3000] [extra `dagster dev` arguments]

The terminal gets Dagster's warnings and each run's few lines per step (dagster_project/progress.py); every run's
whole event stream goes to `<data dir>/logs/run-<run id>.log`, whose path each run prints first.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster_project.run import use_project_instance
from ingest.settings import PROJECT_ROOT, default_data_dir, logs_dir

STOP_SECONDS = 20.0


def command(port: int, extra: list[str]) -> list[str]:
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster) if dagster.exists() else "dagster", "dev", "-m", "dagster_project.definitions",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DAGSTER_PORT", "3000")))
    args, extra = parser.parse_known_args(argv)
    home = use_project_instance()
    print(f"Dagster UI on http://127.0.0.1:{args.port} (instance {home}; each run's full log in "
          f"{logs_dir(default_data_dir())}/run-<run id>.log). Ctrl-C stops it.", flush=True)
    child = subprocess.Popen(command(args.port, extra), cwd=PROJECT_ROOT, start_new_session=True)
    stopping: list[int] = []

    def stop(signum, _frame) -> None:
        stopping.append(signum)
        _signal_group(child.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while child.poll() is None and not stopping:
        time.sleep(0.2)
    if stopping:
        print(f"stopping the Dagster UI ({signal.Signals(stopping[0]).name}) ...", flush=True)
        deadline = time.monotonic() + STOP_SECONDS
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    _end_group(child)
    return 0 if stopping else (child.returncode or 0)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _end_group(child: subprocess.Popen) -> None:
    """Whatever is left of dagster dev's process group (its webserver, daemon, code servers): SIGTERM, then SIGKILL."""
    for signum, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        _signal_group(child.pid, signum)
        deadline = time.monotonic() + wait
        while child.poll() is None or _group_alive(child.pid):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if not _group_alive(child.pid):
            break
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    raise SystemExit(main())
