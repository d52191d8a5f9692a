"""`python -m dagster_project.run` decides before starting Dagster: the days that new or changed files touch, and
whether there is anything to do at all (nothing new: it says so and stops)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from dagster_project import run
from ingest.drop_zone import drop_zone_changes

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """`code` run by this Python in a process of its own, from the project root."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def _line(request_id: str, created_at: str) -> str:
    return json.dumps({"id": request_id, "created_at": created_at, "user_id": "u", "model": "openai/gpt-4o",
                       "native_tokens_prompt": 1, "native_tokens_completion": 1}) + "\n"


def _write(path: Path, text: str, written: datetime) -> None:
    path.write_text(text)
    os.utime(path, (written.timestamp(), written.timestamp()))


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch) -> Path:
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    _write(gateway / "a.jsonl", "not json\n" + _line("a", "2026-11-08T23:00:00-02:00"),
           datetime(2026, 11, 11, 0, 30, tzinfo=timezone.utc))
    (tmp_path / "raw" / "users.csv").write_text("id,email,created_at,plan\n")
    monkeypatch.setenv("AI_USAGE_DATA_DIR", str(tmp_path))
    for name in run.ALWAYS_RUN_ENV:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_days_run_from_the_first_dated_line_to_the_last_write_of_the_new_files(data_dir):
    changes = drop_zone_changes(data_dir, {})
    assert run.days_to_run(changes, date(2026, 11, 29), None, None) == (date(2026, 11, 9), date(2026, 11, 11))
    _write(data_dir / "raw" / "gateway" / "b.jsonl", _line("b", "2026-11-20T10:00:00Z"),
           datetime(2026, 11, 21, 1, 0, tzinfo=timezone.utc))
    changes = drop_zone_changes(data_dir, changes.state)  # only b is new
    assert [log_file.path.name for log_file in changes.changed] == ["b.jsonl"]
    assert run.days_to_run(changes, date(2026, 11, 29), None, None) == (date(2026, 11, 20), date(2026, 11, 21))
    assert run.days_to_run(changes, date(2026, 11, 29), date(2026, 11, 1), None) == (date(2026, 11, 1),
                                                                                     date(2026, 11, 21))


def _as_if_a_run_succeeded(data_dir: Path) -> None:
    """What a successful run leaves: its outputs, the warehouse, and the state it records."""
    (data_dir / "warehouse.duckdb").write_bytes(b"")
    (data_dir / "exports").mkdir()
    (data_dir / "reports").mkdir()
    (data_dir / "reports" / "index.html").write_text("report")
    state = run.current_state(data_dir, drop_zone_changes(data_dir, {}))
    run.write_state(data_dir, {**state, "undelivered_alerts": 0, "run_id": "r1"})


def test_nothing_new_says_so_and_starts_neither_dagster_nor_dbt(data_dir, capsys, monkeypatch):
    assert run.reasons_to_run(run.read_state(data_dir), {}, data_dir) == ["first run"]
    _as_if_a_run_succeeded(data_dir)
    monkeypatch.setattr(run, "execute", lambda *args: pytest.fail("started a run with nothing new"))
    assert run.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nothing new since the last run (")
    assert "1 log files, the users export, the dbt project and the warehouse are as that run left them" in out


@pytest.mark.parametrize("change, reason", [
    (lambda d: _write(d / "raw" / "gateway" / "b.jsonl", _line("b", "2026-11-20T10:00:00Z"), datetime.now()),
     "1 new or changed log files"),
    (lambda d: (d / "raw" / "gateway" / "a.jsonl").unlink(), "log files removed"),
    (lambda d: (d / "raw" / "users.csv").write_text("id,email,created_at,plan\nu,u@x,2026-01-01,free\n"),
     "users export changed"),
    (lambda d: (d / "warehouse.duckdb").unlink(), "warehouse changed since the last run"),
    (lambda d: (d / "reports" / "index.html").unlink(), "outputs missing"),
])
def test_anything_new_is_a_reason_to_run(data_dir, change, reason):
    _as_if_a_run_succeeded(data_dir)
    previous = run.read_state(data_dir)
    assert run.reasons_to_run(previous, run.current_state(data_dir, drop_zone_changes(data_dir, {})), data_dir) == []
    change(data_dir)
    state = run.current_state(data_dir, drop_zone_changes(data_dir, previous["drop_zone"]))
    assert run.reasons_to_run(previous, state, data_dir) == [reason]


def test_a_changed_dbt_model_changes_the_sources_fingerprint(tmp_path):
    for name in run.SOURCE_FOLDERS:
        (tmp_path / name).mkdir(parents=True)
    model = tmp_path / "dbt_project" / "models" / "m.sql"
    model.write_text("select 1")
    before = run.sources_fingerprint(tmp_path)
    model.write_text("select 2")
    assert run.sources_fingerprint(tmp_path) != before


def test_the_check_does_not_import_dagster():
    # the cheap path: deciding that there is nothing to do must not pay for importing Dagster and dbt
    code = "import sys, dagster_project.run; print('dagster' in sys.modules, 'dbt' in sys.modules)"
    done = _python(code)
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]


GRAPH_CODE = """
import json, sys
from dagster_project import run
if sys.argv[1] == "without":
    run.without_dbt_core()
from dagster_project.definitions import defs
graph = {}
for assets in defs.resolve_asset_graph().assets_defs:
    for key, spec in assets.specs_by_key.items():
        graph[key.to_user_string()] = [sorted(dep.asset_key.to_user_string() for dep in spec.deps), spec.group_name,
                                       sorted(spec.kinds), sorted(spec.tags.items()), spec.description]
    for check in assets.check_specs:
        graph["check " + check.key.to_user_string()] = [
            check.description, sorted(dep.asset_key.to_user_string() for dep in check.additional_deps)]
print(json.dumps({"dbt_imported": "dbt" in sys.modules, "graph": graph}, sort_keys=True))
"""


def test_the_run_process_does_not_import_dbt_core_and_sees_the_same_asset_graph():
    # `python -m dagster_project.run` refuses dbt-core imports (dbt runs in its own process): dagster-dbt then reads
    # the manifest without it, and every asset, dependency, group and dbt test's asset check is the same
    loaded = {}
    for mode in ("with", "without"):
        done = _python(GRAPH_CODE, mode, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        loaded[mode] = json.loads(done.stdout.splitlines()[-1])
    assert loaded["with"]["dbt_imported"] is True
    assert loaded["without"]["dbt_imported"] is False
    assert loaded["without"]["graph"] == loaded["with"]["graph"]
    assert "check ai_revenue_analytics:ai_revenue_analytics_row_checks" in loaded["without"]["graph"]  # a dbt test
    assert len([key for key in loaded["with"]["graph"] if key.startswith("check ")]) >= 30


def test_without_dbt_core_refuses_only_dbt_core():
    code = ("import sys; from dagster_project import run; run.without_dbt_core(); import dbt_common, duckdb\n"
            "try:\n    import dbt.version\nexcept ModuleNotFoundError as e:\n    print('refused', e.name)")
    done = _python(code)
    assert done.stdout.split() == ["refused", "dbt"], done.stderr[-2000:]


def test_exit_now_runs_the_atexit_functions_flushes_and_keeps_the_exit_code(tmp_path: Path):
    # the run ends without the interpreter's teardown: what atexit and the buffers hold must not be lost
    code = ("import atexit, logging, sys\n"
            "from dagster_project.run import exit_now\n"
            f"logging.basicConfig(filename={str(tmp_path / 'log.txt')!r}, level=logging.INFO)\n"
            "logging.info('a line still in the handler')\n"
            "atexit.register(lambda: print(' then atexit'))\n"
            "print('buffered', end='')\n"
            "sys.stderr.write('to stderr')\n"
            "exit_now(3)\n")
    done = _python(code)
    assert (done.returncode, done.stdout, done.stderr) == (3, "buffered then atexit\n", "to stderr")
    assert (tmp_path / "log.txt").read_text() == "INFO:root:a line still in the handler\n"
