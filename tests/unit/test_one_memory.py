"""One instance, one memory (issue 12 item 2): a file landed by any run (`make run`, the sensor's, the UI's) is not
new to the others. Both `make run` and the drop-zone sensor start from the landing ledger
(`<data dir>/raw/landing_ledger.csv`), not only from their own record."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from dagster_project import run
from dagster_project.defs.automation.schedules import new_gateway_files
from dagster_project.resources import WarehouseResource

WRITTEN = datetime(2026, 11, 20, 23, 0, tzinfo=timezone.utc)
HEADER = "sequence,sha256,file,bytes,lines,landed_at\n"


def _file(data_dir: Path, name: str, text: str, written: datetime = WRITTEN) -> Path:
    path = data_dir / "raw" / "gateway" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (written.timestamp(), written.timestamp()))
    return path


def _ledger(data_dir: Path, *rows: tuple[str, int, str], torn: str = "") -> None:
    lines = [f"{n},{'a' * 64},raw/gateway/{name},{size},1,{landed}\n" for n, (name, size, landed) in enumerate(rows, 1)]
    (data_dir / "raw" / "landing_ledger.csv").write_text(HEADER + "".join(lines) + torn)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    _file(tmp_path, "a.jsonl", "{}\n")  # 3 bytes
    _file(tmp_path, "b.jsonl", "{}\n{}\n")  # 6 bytes
    return tmp_path


def test_a_file_the_ledger_shows_landed_as_it_is_now_is_known(data_dir):
    state = run.known_changes(data_dir, {}).state
    _ledger(data_dir, ("a.jsonl", 3, "2026-11-21T02:15:09.512000Z"), ("b.jsonl", 6, "2026-11-20T22:00:00.000000Z"))
    # a: same size, landed after its last write; b: landed before its last write (it changed since)
    assert run.landed_files(data_dir, state) == {"a.jsonl": state["a.jsonl"]}
    assert [f.path.name for f in run.known_changes(data_dir, {}).changed] == ["b.jsonl"]


def test_a_different_size_or_an_unfinished_ledger_line_is_not_landed(data_dir):
    state = run.known_changes(data_dir, {}).state
    _ledger(data_dir, ("a.jsonl", 2, "2026-11-21T02:15:09.512000Z"),
            torn="3,bbbb,raw/gateway/b.jsonl,6,2,2026-11-21T0")  # a run appending right now
    assert run.landed_files(data_dir, state) == {}
    assert (data_dir / "raw" / "landing_ledger.csv").read_text().endswith("2026-11-21T0")  # read, never repaired


def test_make_run_does_not_redo_what_another_run_landed(data_dir):
    _ledger(data_dir, ("a.jsonl", 3, "2026-11-21T02:15:09.512000Z"), ("b.jsonl", 6, "2026-11-21T02:15:10.000000Z"))
    assert run.known_changes(data_dir, {}).changed == []  # no record of its own, the ledger's is enough
    changes = run.known_changes(data_dir, {})
    assert run.days_to_run(changes, WRITTEN.date(), None, None) == (WRITTEN.date(), WRITTEN.date())


def test_the_sensor_does_not_launch_for_files_make_run_landed_and_does_for_a_new_one(data_dir, monkeypatch):
    monkeypatch.setenv("AI_USAGE_LOOKBACK_DAYS", "2")
    _ledger(data_dir, ("a.jsonl", 3, "2026-11-21T02:15:09.512000Z"), ("b.jsonl", 6, "2026-11-21T02:15:10.000000Z"))
    warehouse = WarehouseResource(data_dir=str(data_dir))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})  # a fresh cursor
        assert isinstance(new_gateway_files(context), dg.SkipReason)
        assert json.loads(context.cursor) == run.known_changes(data_dir, {}).state
        _file(data_dir, "c.jsonl", "{}\n", datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc))
        context = dg.build_sensor_context(instance=instance, cursor=context.cursor, resources={"warehouse": warehouse})
        request = new_gateway_files(context)
        assert isinstance(request, dg.RunRequest)
        assert request.tags["dagster/asset_partition_range_start"] == "2026-11-20"  # the 22nd less 2 days


def test_run_py_uses_the_projects_instance_when_dagster_home_is_unset(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert run.use_project_instance() == run.PROJECT_ROOT / ".dagster_home"
    assert os.environ["DAGSTER_HOME"] == str(run.PROJECT_ROOT / ".dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", "/tmp/elsewhere-home-for-this-test")
    monkeypatch.setattr(Path, "mkdir", lambda *args, **kwargs: None)
    assert run.use_project_instance() == Path("/tmp/elsewhere-home-for-this-test")


def test_a_successful_run_under_make_dev_records_what_it_landed_for_make_run(data_dir):
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    from dagster_project.defs.automation.schedules import remember_successful_runs

    _ledger(data_dir, ("a.jsonl", 3, "2026-11-21T02:15:09.512000Z"))  # b is not landed (yet)
    with dg.instance_for_test() as instance:
        dagster_run = instance.add_run(DagsterRun(job_name="materialize_everything", run_id="r" * 36,
                                                  status=DagsterRunStatus.SUCCESS))
        event = DagsterEvent(DagsterEventType.RUN_SUCCESS.value, "materialize_everything")
        context = dg.build_run_status_sensor_context(
            sensor_name="remember_successful_runs", dagster_instance=instance, dagster_run=dagster_run,
            dagster_event=event, resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
        )
        remember_successful_runs(context)
    state = run.read_state(data_dir)
    assert state["run_id"] == "r" * 36
    assert state["drop_zone"] == {"a.jsonl": run.known_changes(data_dir, {}).state["a.jsonl"]}
    previous = run.read_state(data_dir)["drop_zone"]
    assert [f.path.name for f in run.drop_zone_changes(data_dir, previous).changed] == ["b.jsonl"]
