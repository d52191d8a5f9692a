"""The drop zone reads only the regular files inside it, and nothing in it can stop the others from landing.

Links (to /proc/self/environ, to a file outside, even to a file inside), FIFOs, devices and names that are not
UTF-8 are refused without being opened, recorded in raw.drop_zone_refusals and warned about; near-miss names are
listed, dot-files and partial uploads skipped. The new-file sensor decides from names, sizes and mtimes alone.
"""

from __future__ import annotations

import builtins
import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.automation.schedules import new_gateway_files
from dagster_project.defs.ingest.files import gateway_log_files
from dagster_project.resources import WarehouseResource
from ingest.drop_zone import first_day, record_refusals
from ingest.files import NotARegularFile, list_log_files, open_regular, read_lines, safe_name, scan_drop_zone
from ingest.sample import ensure_sample_data
from ingest.warehouse import connect, load_gateway_files

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
PROJECT = Path(__file__).resolve().parents[2]


def line(request_id: str, created_at: str = "2026-11-20T08:00:00Z") -> bytes:
    return json.dumps({"id": request_id, "created_at": created_at, "user_id": "usr_1", "model": "openai/gpt-4o-mini",
                       "native_tokens_prompt": 100, "native_tokens_completion": 50}).encode() + b"\n"


@pytest.fixture
def gateway(tmp_path) -> Path:
    folder = tmp_path / "raw" / "gateway"
    folder.mkdir(parents=True)
    return folder


def names(entries) -> list[tuple[str, str]]:
    return [(entry.name, entry.reason) for entry in entries]


def landed_ids(data_dir: Path) -> list[str]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return [row[0] for row in con.execute("select id from raw.gateway_requests order by id").fetchall()]


def refusals(data_dir: Path) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select name, kind, reason from raw.drop_zone_refusals order by name").fetchall()


def land(data_dir: Path, load_id: str = "run-1") -> list:
    """What the ingest asset does: list once, record what is not loaded, land the accepted files."""
    listing = scan_drop_zone(data_dir / "raw" / "gateway")
    with connect(data_dir / "warehouse.duckdb") as con:
        record_refusals(con, listing, load_id=load_id, now=NOW)
        return load_gateway_files(con, data_dir, load_id=load_id, files=listing.files, now=NOW)


# the run's days as `make run` tags them (the ingest asset is not partitioned: dagster_project/partitions.py)
ONE_DAY = {"dagster/asset_partition_range_start": "2026-11-20", "dagster/asset_partition_range_end": "2026-11-20"}


def materialize_ingest(data_dir: Path) -> tuple[dg.ExecuteInProcessResult, list[tuple[str, str]]]:
    """Materialize the gateway files asset alone; return the result and its log lines as (level, message)."""
    with dg.instance_for_test() as instance:
        warehouse = WarehouseResource(data_dir=str(data_dir))
        result = dg.materialize([gateway_log_files], instance=instance, tags=ONE_DAY,
                                resources={"warehouse": warehouse}, raise_on_error=False)
        logs = [(logging.getLevelName(entry.level), entry.user_message) for entry in instance.all_logs(result.run_id)]
    return result, logs


# --- the listing -------------------------------------------------------------------------------------------------


def test_every_entry_lands_in_exactly_one_list_with_its_reason(gateway):
    for name in ("b.jsonl.gz", "a.jsonl", "C.JSONL", "d.ndjson", "e.json", "f.jsonl.gzip", ".hidden.jsonl",
                 "g.jsonl.part", "h.jsonl.tmp", "i.jsonl~", "notes.txt"):
        (gateway / name).write_bytes(gzip.compress(line("x")) if name.endswith(".gz") else line("x"))
    (gateway / "sub").mkdir()
    (gateway / "sub" / "inner.jsonl").write_bytes(line("inner"))
    listing = scan_drop_zone(gateway)
    assert [path.name for path in listing.files] == ["a.jsonl", "b.jsonl.gz"]
    assert list_log_files(gateway) == listing.files  # the thin wrapper: only what is accepted
    assert names(listing.near_misses) == [("C.JSONL", "near_miss_name"), ("d.ndjson", "near_miss_name"),
                                          ("e.json", "near_miss_name"), ("f.jsonl.gzip", "near_miss_name"),
                                          ("sub", "subfolder")]
    assert names(listing.skipped) == [(".hidden.jsonl", "hidden"), ("g.jsonl.part", "partial_upload"),
                                      ("h.jsonl.tmp", "partial_upload"), ("i.jsonl~", "partial_upload"),
                                      ("notes.txt", "not_a_log_file")]
    assert listing.refused == []
    hints = {entry.name: entry.detail for entry in listing.near_misses}
    assert "rename it to end in .jsonl or .jsonl.gz" in hints["C.JSONL"]
    assert "rename it to end in .jsonl.gz" in hints["f.jsonl.gzip"]
    assert "move them into the drop zone itself" in hints["sub"]


def test_a_missing_drop_zone_is_an_empty_listing(tmp_path):
    listing = scan_drop_zone(tmp_path / "nowhere")
    assert (listing.files, listing.refused, listing.near_misses, listing.skipped) == ([], [], [], [])


def test_names_are_shown_with_escapes():
    assert safe_name(os.fsdecode(b"bad\xffname.jsonl")) == "bad\\xffname.jsonl"
    assert safe_name(b"a\nb\\c.jsonl") == "a\\nb\\\\c.jsonl"
    assert safe_name("caf\u00e9 2026.jsonl") == "caf\u00e9 2026.jsonl"


# --- links -------------------------------------------------------------------------------------------------------

ENVIRON_SCRIPT = """
import json, os, sys
from pathlib import Path
import dagster as dg
from dagster_project.defs.ingest.files import gateway_log_files
from dagster_project.resources import WarehouseResource
data_dir = Path(sys.argv[1])
secret = os.environ["AI_GATEWAY_API_TOKEN"]
with open("/proc/self/environ", "rb") as handle:  # the run's own environment holds the secrets (test sanity)
    print("environ holds the secret:", secret.encode() in handle.read(), flush=True)
result = dg.materialize([gateway_log_files], resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
                        tags={"dagster/asset_partition_range_start": "2026-11-20",
                              "dagster/asset_partition_range_end": "2026-11-20"}, raise_on_error=False)
print("success:", result.success, flush=True)
for event in result.all_events:
    print("event:", event.event_type_value, event.message, flush=True)
for mat in result.asset_materializations_for_node("gateway_log_files"):
    print("metadata:", {key: str(value.value) for key, value in mat.metadata.items()}, flush=True)
"""


def test_a_link_to_proc_self_environ_is_refused_unread_and_no_secret_reaches_the_warehouse_or_the_log(gateway):
    data_dir = gateway.parents[1]
    token, password = "tok-5f0c1d9e-never-show", "pw-83b2a7-never-show"
    (gateway / "env.jsonl").symlink_to("/proc/self/environ")
    (gateway / "parent-env.jsonl").symlink_to(f"/proc/{os.getpid()}/environ")
    (gateway / "good.jsonl").write_bytes(line("good-1"))
    env = {**os.environ, "AI_GATEWAY_API_TOKEN": token,
           "AI_USAGE_ALERT_WEBHOOK_URL": f"https://alerts:{password}@hooks.example.invalid/x"}
    env.pop("AI_USAGE_DATA_DIR", None)
    # The run itself has the secrets in its environment, as in the finding; it needs no gateway pull for that.
    done = subprocess.run([sys.executable, "-c", ENVIRON_SCRIPT, str(data_dir)], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert "environ holds the secret: True" in done.stdout, output  # reading the link would have leaked them
    assert "success: True" in done.stdout, output
    assert "drop zone: 2 entries refused, never read" in output
    assert "files_refused': '2'" in done.stdout
    for secret in (token, password):
        assert secret not in output
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        assert ("raw", "drop_zone_refusals") in tables and ("raw", "quarantine") in tables
        for schema, table in tables:
            dump = str(con.execute(f'select * from "{schema}"."{table}"').fetchall())
            assert token not in dump and password not in dump, f"{schema}.{table}"
        assert con.execute("select count(*) from raw.quarantine").fetchone()[0] == 0
        assert con.execute("select id from raw.gateway_requests").fetchall() == [("good-1",)]
        assert con.execute(
            "select name, kind, reason, detail from raw.drop_zone_refusals order by name"
        ).fetchall() == [
            ("env.jsonl", "refused", "symlink", "a symbolic link to /proc/self/environ: links are never followed; "
             "copy or move the file itself into the drop zone"),
            ("parent-env.jsonl", "refused", "symlink", f"a symbolic link to /proc/{os.getpid()}/environ: links are "
             "never followed; copy or move the file itself into the drop zone"),
        ]


def test_a_link_to_a_readable_file_outside_is_refused_and_that_file_never_read(gateway, tmp_path):
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes(line("outside-1") + b"a line that would be quarantined\n")
    (gateway / "outside.jsonl").symlink_to(outside)
    (gateway / "here.jsonl").write_bytes(line("here-1"))
    results = land(tmp_path)
    assert [result.source for result in results] == ["raw/gateway/here.jsonl"]
    assert landed_ids(tmp_path) == ["here-1"]
    assert refusals(tmp_path) == [("outside.jsonl", "refused", "symlink")]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.quarantine").fetchone()[0] == 0
    # The default listing of load_gateway_files refuses it too.
    with connect(tmp_path / "warehouse.duckdb") as con:
        again = load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
    assert [(result.source, result.skipped) for result in again] == [("raw/gateway/here.jsonl", True)]


def test_every_link_is_refused_even_one_to_a_regular_file_inside(gateway, tmp_path):
    # Decision: no link is ever followed (it can be re-pointed between listing and reading); copy or move instead.
    (gateway / "a.jsonl").write_bytes(line("a-1"))
    (gateway / "link.jsonl").symlink_to(gateway / "a.jsonl")
    (gateway / "relative.jsonl").symlink_to("a.jsonl")
    land(tmp_path)
    assert landed_ids(tmp_path) == ["a-1"]
    assert refusals(tmp_path) == [("link.jsonl", "refused", "symlink"), ("relative.jsonl", "refused", "symlink")]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select source, lines_read from raw.load_log").fetchall() == [("raw/gateway/a.jsonl", 1)]


def test_a_file_swapped_for_a_link_after_the_listing_is_not_read(gateway, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    (gateway / "a.jsonl").write_bytes(line("a-1"))
    listing = scan_drop_zone(gateway)
    (gateway / "a.jsonl").unlink()
    (gateway / "a.jsonl").symlink_to(secret)
    with pytest.raises(NotARegularFile, match="a symbolic link, refused without being read"):
        open_regular(gateway / "a.jsonl")
    with connect(tmp_path / "warehouse.duckdb") as con:
        (result,) = load_gateway_files(con, tmp_path, load_id="run-1", files=listing.files, now=NOW)
        assert result.skipped and result.lines_read == 0  # handled like a file gone since the listing
        assert con.execute("select count(*) from raw.quarantine").fetchone()[0] == 0
        assert con.execute("select count(*) from raw.load_log").fetchone()[0] == 0


# --- FIFOs and devices -------------------------------------------------------------------------------------------


def _within(seconds: float, work) -> object:
    """Run `work` in a daemon thread; fail (rather than hang the suite) if it does not finish in time."""
    box: dict = {}

    def target():
        try:
            box["value"] = work()
        except BaseException as error:  # handed back to the test
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def test_a_fifo_is_refused_without_being_opened_and_nothing_hangs(gateway, tmp_path):
    os.mkfifo(gateway / "pipe.jsonl")
    (gateway / "z.jsonl").write_bytes(line("z-1"))
    results = _within(60, lambda: land(tmp_path))
    assert [result.source for result in results] == ["raw/gateway/z.jsonl"]
    assert landed_ids(tmp_path) == ["z-1"]
    (entry,) = scan_drop_zone(gateway).refused
    assert (entry.name, entry.reason, entry.detail) == (
        "pipe.jsonl", "not_regular_file", "a FIFO (named pipe): only regular files are read")
    assert refusals(tmp_path) == [("pipe.jsonl", "refused", "not_regular_file")]
    # Even handed the FIFO directly (a file swapped after the listing), reading neither blocks nor reads.
    with pytest.raises(NotARegularFile, match="a FIFO"):
        _within(30, lambda: list(read_lines(gateway / "pipe.jsonl")))


def test_a_device_is_refused_without_being_opened(gateway):
    try:
        os.mknod(gateway / "null.jsonl", 0o600 | 0o020000, os.makedev(1, 3))  # a character device, like /dev/null
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    (entry,) = scan_drop_zone(gateway).refused
    assert (entry.name, entry.reason, entry.detail) == (
        "null.jsonl", "not_regular_file", "a character device: only regular files are read")
    with pytest.raises(NotARegularFile, match="a character device"):
        open_regular(gateway / "null.jsonl")


# --- names -------------------------------------------------------------------------------------------------------


def test_a_name_that_is_not_utf8_is_refused_and_the_files_after_it_still_land(gateway, tmp_path):
    bad = os.fsencode(gateway) + b"/bad\xffname.jsonl"
    with open(bad, "wb") as handle:
        handle.write(line("in-the-bad-name"))
    (gateway / "c.jsonl").write_bytes(line("c-1"))
    (gateway / "zz.jsonl").write_bytes(line("zz-1"))
    result, logs = materialize_ingest(tmp_path)
    assert result.success
    assert landed_ids(tmp_path) == ["c-1", "zz-1"]
    assert refusals(tmp_path) == [("bad\\xffname.jsonl", "refused", "name_not_utf8")]
    (materialization, *_) = result.asset_materializations_for_node("gateway_log_files")
    assert materialization.metadata["files_refused"].value == 1
    assert materialization.metadata["files_loaded"].value == 2
    assert "| bad\\xffname.jsonl | refused | name_not_utf8 |" in materialization.metadata["not_loaded"].value
    assert ("WARNING", "drop zone: 1 entries refused, never read (recorded in raw.drop_zone_refusals): "
            "bad\\xffname.jsonl: the name is not valid UTF-8 (shown with \\x escapes): rename the file to a UTF-8 "
            "name to load it") in logs


def test_a_name_with_control_characters_is_refused(gateway):
    (gateway / "two\nlines.jsonl").write_bytes(line("x"))
    assert names(scan_drop_zone(gateway).refused) == [("two\\nlines.jsonl", "name_not_printable")]


def test_near_misses_are_recorded_and_warned_about_and_skipped_entries_said(gateway, tmp_path):
    (gateway / "day.JSONL").write_bytes(line("upper-1"))
    (gateway / "day.ndjson").write_bytes(line("nd-1"))
    (gateway / "upload.jsonl.part").write_bytes(line("part-1"))
    (gateway / ".DS_Store").write_bytes(b"\0")
    result, logs = materialize_ingest(tmp_path)
    assert result.success
    assert landed_ids(tmp_path) == []
    assert refusals(tmp_path) == [("day.JSONL", "near_miss", "near_miss_name"),
                                  ("day.ndjson", "near_miss", "near_miss_name")]
    assert any(level == "WARNING" and message.startswith(
        "drop zone: 2 entries not loaded, the name almost matches (recorded in raw.drop_zone_refusals): day.JSONL: "
        "the extension is not lower case") for level, message in logs)
    assert any(level == "INFO" and message.startswith(
        "drop zone: 2 entries skipped: .DS_Store: a dot-file: not loaded; upload.jsonl.part: a partial upload")
        for level, message in logs)
    (materialization, *_) = result.asset_materializations_for_node("gateway_log_files")
    metadata = materialization.metadata
    assert (metadata["files_near_miss"].value, metadata["files_skipped"].value, metadata["files_refused"].value) == (
        2, 2, 0)


def test_a_refusal_is_one_row_with_first_and_last_seen(gateway, tmp_path):
    (gateway / "env.jsonl").symlink_to("/proc/self/environ")
    listing = scan_drop_zone(gateway)
    later = NOW + timedelta(hours=1)
    with connect(tmp_path / "warehouse.duckdb") as con:
        assert record_refusals(con, listing, load_id="run-1", now=NOW) == 1
        assert record_refusals(con, listing, load_id="run-2", now=later) == 0
        assert con.execute(
            "select name, first_seen_at, last_seen_at, first_load_id, last_load_id from raw.drop_zone_refusals"
        ).fetchall() == [("env.jsonl", NOW.replace(tzinfo=None), later.replace(tzinfo=None), "run-1", "run-2")]


def test_the_sample_generator_does_not_write_beside_files_that_are_not_loadable(gateway, tmp_path):
    (gateway / "real.JSONL").write_bytes(line("r-1"))
    message = ensure_sample_data(tmp_path, days=1, users=2)
    assert message == (f"no loadable gateway log files in {gateway}, but 0 refused and 1 near-miss entries: "
                       "no sample data written (the run lists them)")
    assert sorted(path.name for path in gateway.iterdir()) == ["real.JSONL"]


# --- make run's first day ----------------------------------------------------------------------------------------


def test_first_day_reads_only_the_first_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"not json\n" + line("a", "2026-11-18T23:30:00-01:00") + line("b", "2026-11-01T00:00:00Z"))
    assert first_day(path) == date(2026, 11, 19)  # the first dated line, in UTC
    late = tmp_path / "late.jsonl"
    late.write_bytes(b"not json\n" * 100 + line("c", "2026-11-01T00:00:00Z"))
    assert first_day(late) is None  # bounded: not within the first 100 lines
    assert first_day(tmp_path / "gone.jsonl") is None


# --- the sensor --------------------------------------------------------------------------------------------------


def test_the_sensor_reads_no_file_so_a_huge_file_does_not_stall_it_and_a_later_small_one_gets_its_run(
    gateway, tmp_path, monkeypatch
):
    monkeypatch.setenv("AI_USAGE_LOOKBACK_DAYS", "2")
    big = gateway / "big.jsonl"
    with open(big, "wb") as handle:  # 512 MiB, sparse: costs no disk, and any read of it would be slow
        handle.truncate(512 * 1024 * 1024)
    written = datetime(2026, 11, 11, 12, 0, tzinfo=timezone.utc).timestamp()
    os.utime(big, (written, written))
    opened: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def guard(path):
        text = os.fsdecode(path) if isinstance(path, (bytes, str, os.PathLike)) else ""
        if text.startswith(str(gateway)):
            opened.append(str(path))
            raise AssertionError(f"the sensor opened {path}")

    def guarded_os_open(path, *args, **kwargs):
        guard(path)
        return real_os_open(path, *args, **kwargs)

    def guarded_open(file, *args, **kwargs):
        if not isinstance(file, int):
            guard(file)
        return real_open(file, *args, **kwargs)

    warehouse = WarehouseResource(data_dir=str(tmp_path))
    today = datetime.now(timezone.utc).date()
    with dg.instance_for_test() as instance:
        monkeypatch.setattr(os, "open", guarded_os_open)
        monkeypatch.setattr(builtins, "open", guarded_open)
        started = time.monotonic()
        context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
        first = new_gateway_files(context)
        took = time.monotonic() - started
        assert took < 5, f"a tick took {took:.1f} s"  # a safety bound: the tick times out at 60 s
        assert isinstance(first, dg.RunRequest)
        assert first.tags["dagster/asset_partition_range_start"] == "2026-11-09"  # last write day less 2
        assert first.tags["dagster/asset_partition_range_end"] == today.isoformat()
        assert json.loads(context.cursor) == {"big.jsonl": [512 * 1024 * 1024, int(written * 1e9)]}

        (gateway / "small.jsonl").write_bytes(line("s-1"))
        context = dg.build_sensor_context(instance=instance, cursor=context.cursor, resources={"warehouse": warehouse})
        second = new_gateway_files(context)
        assert isinstance(second, dg.RunRequest) and second.run_key != first.run_key
        assert second.tags["dagster/asset_partition_range_start"] == (today - timedelta(days=2)).isoformat()
        assert second.tags["dagster/asset_partition_range_end"] == today.isoformat()

        context = dg.build_sensor_context(instance=instance, cursor=context.cursor, resources={"warehouse": warehouse})
        assert isinstance(new_gateway_files(context), dg.SkipReason)
        monkeypatch.undo()
    assert opened == []
    big.unlink()


def test_the_sensor_ignores_refused_entries(gateway, tmp_path):
    (gateway / "env.jsonl").symlink_to("/proc/self/environ")
    os.mkfifo(gateway / "pipe.jsonl")
    warehouse = WarehouseResource(data_dir=str(tmp_path))
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
        assert isinstance(_within(30, lambda: new_gateway_files(context)), dg.SkipReason)
