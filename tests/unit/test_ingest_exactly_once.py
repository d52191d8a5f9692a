"""Exactly once: a request id seen twice (two files, a changed file, a retried run) is landed and billed once, and a
load killed half-way leaves the whole source or nothing, which a re-run completes.

The file-and-API and two-pages cases are in test_gateway_api.py (they need the test server).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ingest import ledger
from ingest.warehouse import Quarantined, connect, land_requests, load_gateway_files, parse_line

PROJECT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def line(request_id: str, prompt: int = 100, user: str = "usr_1") -> str:
    return (
        json.dumps(
            {
                "id": request_id,
                "created_at": "2026-11-20T08:00:00Z",
                "user_id": user,
                "model": "openai/gpt-4o-mini",
                "native_tokens_prompt": prompt,
                "native_tokens_completion": 10,
            }
        )
        + "\n"
    )


def write(data_dir: Path, name: str, text: str) -> Path:
    path = data_dir / "raw" / "gateway" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def counts(con) -> tuple:
    return con.execute("select count(*), count(distinct id) from raw.gateway_requests").fetchone()


def balanced(con) -> bool:
    return con.execute(
        "select bool_and(lines_read = accepted + duplicates + quarantined) from raw.load_log"
    ).fetchone()[0] in (True, None)


def test_the_same_id_in_two_files_is_landed_once(tmp_path):
    write(tmp_path, "a.jsonl", line("x1") + line("x2"))
    write(tmp_path, "b.jsonl", line("x2") + line("x3") + line("x1", prompt=999))
    with connect(tmp_path / "w.duckdb") as con:
        a, b = load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        assert (a.accepted, b.accepted, b.duplicates, b.quarantined) == (2, 1, 1, 1)
        assert counts(con) == (3, 3)
        assert con.execute(
            "select native_tokens_prompt, source from raw.gateway_requests where id = 'x1'"
        ).fetchone() == (100, "raw/gateway/a.jsonl")  # the first version wins
        assert con.execute(
            "select source, line_number, reason, request_id from raw.quarantine"
        ).fetchall() == [("raw/gateway/b.jsonl", 3, "conflicting_duplicate", "x1")]


def test_a_file_that_grows_lands_only_its_new_lines(tmp_path):
    path = write(tmp_path, "a.jsonl", line("x1") + line("x2"))
    with connect(tmp_path / "w.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        path.write_text(line("x1") + line("x2") + line("x3"))
        (again,) = load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
        assert (again.lines_read, again.accepted, again.duplicates, again.quarantined) == (3, 1, 2, 0)
        (third,) = load_gateway_files(con, tmp_path, load_id="run-3", now=NOW)
        assert third.skipped and counts(con) == (3, 3) and balanced(con)


def test_a_run_that_fails_while_reading_lands_nothing_and_its_retry_lands_everything(tmp_path):
    def items():
        yield 1, parse_line(line("y1"), now=NOW)
        raise OSError("disk went away")

    with connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(OSError):
            land_requests(con, source="s", source_kind="gateway_file", items=items(), load_id="run-1")
        assert counts(con) == (0, 0)
        assert con.execute("select count(*) from raw.load_log").fetchone() == (0,)
        ok, retry = (
            land_requests(
                con,
                source="s",
                source_kind="gateway_file",
                load_id=load_id,
                items=[(1, parse_line(line("y1"), now=NOW)), (2, parse_line(line("y2"), now=NOW))],
            )
            for load_id in ("run-2", "run-3")
        )
        assert (ok.accepted, retry.accepted, retry.duplicates) == (2, 0, 2) and counts(con) == (2, 2)


def test_a_failure_inside_the_transaction_rolls_the_whole_source_back(tmp_path, monkeypatch):
    import ingest.warehouse as warehouse

    def broken_log(*args, **kwargs):
        raise RuntimeError("killed after the rows were inserted")

    write(tmp_path, "a.jsonl", line("z1") + "not json\n" + line("z2"))
    with connect(tmp_path / "w.duckdb") as con:
        monkeypatch.setattr(warehouse, "_log", broken_log)
        with pytest.raises(RuntimeError):
            load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        for table in ("gateway_requests", "quarantine", "load_log"):
            assert con.execute(f"select count(*) from raw.{table}").fetchone() == (0,), table
        monkeypatch.undo()
        (result,) = load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
        assert (result.accepted, result.quarantined) == (2, 1) and balanced(con)


def test_a_source_larger_than_a_batch_is_deduplicated_across_batches_and_rolled_back_whole(tmp_path, monkeypatch):
    import ingest.warehouse as warehouse

    monkeypatch.setattr(warehouse, "BATCH_LINES", 10)  # 95 lines: ten batches of requests and of bad lines

    def items(fail: bool):
        for number in range(1, 96):
            if number % 2:
                yield number, Quarantined(number, "not_json", None, "not valid JSON", f"bad {number}")
            elif number <= 60:
                yield number, parse_line(line(f"b{number:03d}"), now=NOW)
            else:  # a later batch repeats the first ids: the same content (duplicate) or other content (conflict)
                yield number, parse_line(line(f"b{number - 58:03d}", prompt=100 + number % 4), now=NOW)
        if fail:
            raise OSError("disk went away")

    with connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(OSError):
            land_requests(con, source="s", source_kind="gateway_file", items=items(True), load_id="run-1")
        for table in ("gateway_requests", "quarantine", "load_log"):
            assert con.execute(f"select count(*) from raw.{table}").fetchone() == (0,), table
        result = land_requests(con, source="s", source_kind="gateway_file", items=items(False), load_id="run-2")
        assert (result.lines_read, result.accepted, result.duplicates, result.quarantined) == (95, 30, 8, 57)
        assert result.reasons == {"not_json": 48, "conflicting_duplicate": 9}
        assert counts(con) == (30, 30) and balanced(con)
        assert con.execute(
            "select line_number, request_id, detail from raw.quarantine where reason = 'conflicting_duplicate' "
            "order by line_number limit 2"
        ).fetchall() == [
            (62, "b004", "id 'b004' was first seen at line 4 of the same source with different content; "
                         "the first version is kept"),
            (66, "b008", "id 'b008' was first seen at line 8 of the same source with different content; "
                         "the first version is kept"),
        ]
    assert not list(tmp_path.glob("w.duckdb.landing-*")), "the scratch directory was left behind"


# --- killed with SIGKILL half-way ------------------------------------------------------------------------------

LINES = 15_000

LOADER = """
import sys, time
from pathlib import Path
import ingest.warehouse as warehouse
data_dir = Path(sys.argv[1])
if sys.argv[2] == "pause-in-transaction":
    original = warehouse._write_quarantine
    def pause(*args, **kwargs):  # the rows are inserted, nothing is committed yet: wait to be killed
        original(*args, **kwargs)
        print("INSIDE", flush=True)
        time.sleep(60)
    warehouse._write_quarantine = pause
if sys.argv[2] == "pause-after-commit":
    original_append = warehouse.ledger.append
    def pause_before_append(path, entries, *, after):  # a file is committed, the ledger not yet written: wait
        if entries:
            print("COMMITTED", flush=True)
            time.sleep(60)
        return original_append(path, entries, after=after)
    warehouse.ledger.append = pause_before_append
print("LOADING", flush=True)
with warehouse.connect(data_dir / "warehouse.duckdb") as con:
    warehouse.load_gateway_files(con, data_dir, load_id=sys.argv[3])
print("DONE", flush=True)
"""


def big_file(data_dir: Path) -> None:
    path = data_dir / "raw" / "gateway" / "big.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for index in range(LINES):
            handle.write(line(f"k{index:06d}", prompt=100 + index % 50, user=f"usr_{index % 97}"))
            if index % 1000 == 0:
                handle.write("{broken\n")
    with connect(data_dir / "warehouse.duckdb") as con:  # something committed before, which must survive
        land_requests(
            con,
            source="earlier.jsonl",
            source_kind="gateway_file",
            load_id="run-0",
            items=[(1, parse_line(line("k000000", user="usr_0"), now=NOW))],
        )


def start_loader(data_dir: Path, mode: str, load_id: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen(
        [sys.executable, "-c", LOADER, str(data_dir), mode, load_id],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(process: subprocess.Popen, marker: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = process.stdout.readline()
        if output.strip() == marker:
            return
        if not output and process.poll() is not None:
            raise AssertionError(f"the loader ended before {marker}: {process.stderr.read()}")
    raise AssertionError(f"no {marker} within {timeout}s")


def whole_or_nothing(data_dir: Path) -> str:
    with connect(data_dir / "warehouse.duckdb") as con:
        rows = con.execute(
            "select count(*) from raw.gateway_requests where source = 'raw/gateway/big.jsonl'"
        ).fetchone()[0]
        bad = con.execute(
            "select count(*) from raw.quarantine where source = 'raw/gateway/big.jsonl'"
        ).fetchone()[0]
        logged = con.execute(
            "select count(*) from raw.load_log where source = 'raw/gateway/big.jsonl'"
        ).fetchone()[0]
        assert con.execute(
            "select count(*) from raw.gateway_requests where source = 'earlier.jsonl'"
        ).fetchone() == (1,)
    if (rows, bad, logged) == (0, 0, 0):
        return "nothing"
    assert (rows, bad, logged) == (LINES - 1, LINES // 1000, 1), (rows, bad, logged)
    return "whole"


def rerun_completes(data_dir: Path) -> None:
    process = start_loader(data_dir, "normal", "run-2")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert whole_or_nothing(data_dir) == "whole"
    with connect(data_dir / "warehouse.duckdb") as con:
        assert balanced(con) and counts(con) == (LINES, LINES)
        assert con.execute(
            "select lines_read, accepted, duplicates, quarantined from raw.load_log "
            "where source = 'raw/gateway/big.jsonl'"
        ).fetchall() == [(LINES + LINES // 1000, LINES - 1, 1, LINES // 1000)]


def test_a_load_killed_inside_its_transaction_leaves_nothing_and_a_rerun_completes_it(tmp_path):
    big_file(tmp_path)
    process = start_loader(tmp_path, "pause-in-transaction", "run-1")
    wait_for(process, "INSIDE")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert whole_or_nothing(tmp_path) == "nothing"
    rerun_completes(tmp_path)


@pytest.mark.parametrize("delay", [0.5, 2.0])
def test_a_load_killed_at_an_arbitrary_moment_leaves_the_whole_file_or_nothing(tmp_path, delay):
    big_file(tmp_path)
    process = start_loader(tmp_path, "normal", "run-1")
    wait_for(process, "LOADING")
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    whole_or_nothing(tmp_path)
    rerun_completes(tmp_path)


def test_a_load_killed_between_its_commit_and_the_ledger_append_is_reconciled_by_the_next_run(tmp_path):
    big_file(tmp_path)
    process = start_loader(tmp_path, "pause-after-commit", "run-1")
    wait_for(process, "COMMITTED")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert whole_or_nothing(tmp_path) == "whole"
    path = ledger.ledger_path(tmp_path)
    assert ledger.read_ledger(path) == []
    rerun_completes(tmp_path)
    (entry,) = ledger.read_ledger(path)
    assert (entry.sequence, entry.file, entry.lines) == (1, "raw/gateway/big.jsonl", LINES + LINES // 1000)


def test_the_landings_checkpoint_leaves_fsst_out_and_puts_the_connections_setting_back(tmp_path):
    from ingest.warehouse import _without_fsst

    assert _without_fsst("") == "fsst"
    assert _without_fsst("bitpacking") == "bitpacking,fsst"
    assert _without_fsst("FSST, BitPacking") == "FSST,BitPacking"
    write(tmp_path, "a.jsonl", "".join(line(f"gen_{n:05d}_{'x' * (n % 7)}") for n in range(3000)))
    con = connect(tmp_path / "warehouse.duckdb")
    con.execute("set disabled_compression_methods = 'bitpacking'")
    [result] = load_gateway_files(con, tmp_path, load_id="l1", now=NOW)
    assert (result.accepted, counts(con)) == (3000, (3000, 3000))
    assert con.execute("select current_setting('disabled_compression_methods')").fetchone()[0].lower() == "bitpacking"
    methods = {row[0] for row in con.execute(
        "select distinct compression from pragma_storage_info('raw.gateway_requests')").fetchall()}
    assert "FSST" not in methods and "BitPacking" not in methods and methods, methods
    assert not con.execute("select count(*) from duckdb_temporary_files()").fetchone()[0]


# --- several files in one transaction --------------------------------------------------------------------------


def _raw_state(con) -> tuple:
    """What a landing leaves, without the load ids and times."""
    requests = con.execute(
        "select id, record_hash, source, source_line, native_tokens_prompt from raw.gateway_requests order by id"
    ).fetchall()
    quarantine = con.execute(
        "select source, line_number, reason, field, detail, raw_line, request_id from raw.quarantine order by all"
    ).fetchall()
    log = con.execute(
        "select source, sha256, lines_read, accepted, duplicates, quarantined from raw.load_log order by rowid"
    ).fetchall()
    return requests, quarantine, log


def _three_files(data_dir: Path) -> None:
    write(data_dir, "a.jsonl", line("g1") + line("g2") + line("g2", prompt=7) + "not json\n" + line("g3"))
    # g1 again (same content: duplicate), g3 with other content (conflict with a.jsonl), g4 twice in the file
    write(data_dir, "b.jsonl", line("g1") + line("g3", prompt=9) + line("g4") + line("g4", prompt=8) + line("g5"))
    # g5 from b.jsonl with other content, g2 as a.jsonl kept it, a bad line
    write(data_dir, "c.jsonl", line("g5", prompt=1) + line("g2") + '{"id": 1}\n' + line("g6"))


def test_files_landed_in_one_transaction_leave_what_one_transaction_per_file_leaves(tmp_path, monkeypatch):
    import ingest.warehouse as warehouse

    together, apart = tmp_path / "together", tmp_path / "apart"
    for data_dir in (together, apart):
        _three_files(data_dir)
    commits = []
    real_land = warehouse._land

    def counting_land(con, parts, *, load_id):
        commits.append([part.source for part in parts])
        return real_land(con, parts, load_id=load_id)

    monkeypatch.setattr(warehouse, "_land", counting_land)
    with connect(together / "w.duckdb") as con:
        results = load_gateway_files(con, together, load_id="run-1", now=NOW)
        state = _raw_state(con)
    assert commits == [["raw/gateway/a.jsonl", "raw/gateway/b.jsonl", "raw/gateway/c.jsonl"]]
    assert [(r.lines_read, r.accepted, r.duplicates, r.quarantined) for r in results] == [
        (5, 3, 0, 2), (5, 2, 1, 2), (4, 1, 1, 2)
    ]
    commits.clear()
    monkeypatch.setattr(warehouse, "GROUP_BYTES", 0)  # one file per transaction, as landing once was
    with connect(apart / "w.duckdb") as con:
        load_gateway_files(con, apart, load_id="run-1", now=NOW)
        assert _raw_state(con) == state
    assert commits == [["raw/gateway/a.jsonl"], ["raw/gateway/b.jsonl"], ["raw/gateway/c.jsonl"]]
    requests, quarantine, _ = state
    assert [row[:4] for row in requests] == [
        ("g1", requests[0][1], "raw/gateway/a.jsonl", 1), ("g2", requests[1][1], "raw/gateway/a.jsonl", 2),
        ("g3", requests[2][1], "raw/gateway/a.jsonl", 5), ("g4", requests[3][1], "raw/gateway/b.jsonl", 3),
        ("g5", requests[4][1], "raw/gateway/b.jsonl", 5), ("g6", requests[5][1], "raw/gateway/c.jsonl", 4),
    ]
    conflicts = [(row[0], row[1], row[4]) for row in quarantine if row[2] == "conflicting_duplicate"]
    assert conflicts == [
        ("raw/gateway/a.jsonl", 3, "id 'g2' was first seen at line 2 of the same source with different content; "
                                   "the first version is kept"),
        ("raw/gateway/b.jsonl", 2, "id 'g3' was first seen at raw/gateway/a.jsonl line 5 with different content; "
                                   "the first version is kept"),
        ("raw/gateway/b.jsonl", 4, "id 'g4' was first seen at line 3 of the same source with different content; "
                                   "the first version is kept"),
        ("raw/gateway/c.jsonl", 1, "id 'g5' was first seen at raw/gateway/b.jsonl line 5 with different content; "
                                   "the first version is kept"),
    ]
    entries = ledger.read_ledger(ledger.ledger_path(together))
    assert [(entry.sequence, entry.file, entry.lines) for entry in entries] == [
        (1, "raw/gateway/a.jsonl", 5), (2, "raw/gateway/b.jsonl", 5), (3, "raw/gateway/c.jsonl", 4)
    ]


def test_a_failure_in_a_transaction_of_several_files_lands_none_of_them(tmp_path, monkeypatch):
    import ingest.warehouse as warehouse

    _three_files(tmp_path)
    real_log = warehouse._log

    def log_then_fail(con, result, load_id, started_at):
        real_log(con, result, load_id, started_at)
        if result.source.endswith("c.jsonl"):
            raise RuntimeError("killed before the commit")

    with connect(tmp_path / "w.duckdb") as con:
        monkeypatch.setattr(warehouse, "_log", log_then_fail)
        with pytest.raises(RuntimeError):
            load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        for table in ("gateway_requests", "quarantine", "load_log", "landed_file_stats"):
            assert con.execute(f"select count(*) from raw.{table}").fetchone() == (0,), table
        assert ledger.read_ledger(ledger.ledger_path(tmp_path)) == []
        monkeypatch.undo()
        results = load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
        assert [r.accepted for r in results] == [3, 2, 1] and counts(con) == (6, 6) and balanced(con)


def test_a_file_that_needs_the_reference_reader_among_others_lands_each_file_as_alone(tmp_path):
    from ingest.files import MAX_LINE_BYTES

    together, apart = tmp_path / "together", tmp_path / "apart"
    for data_dir in (together, apart):
        _three_files(data_dir)
        write(data_dir, "b.jsonl", (data_dir / "raw" / "gateway" / "b.jsonl").read_text()
              + '{"id": "' + "x" * (MAX_LINE_BYTES + 10) + '"}\n' + line("g7"))
    with connect(together / "w.duckdb") as con:
        results = load_gateway_files(con, together, load_id="run-1", now=NOW)
        state = _raw_state(con)
    assert [(r.lines_read, r.accepted, r.duplicates, r.quarantined) for r in results] == [
        (5, 3, 0, 2), (7, 3, 1, 3), (4, 1, 1, 2)
    ]
    assert ("raw/gateway/b.jsonl", 6, "line_too_long") in {row[:3] for row in state[1]}
    for name in ("a.jsonl", "b.jsonl", "c.jsonl"):  # one run per file
        with connect(apart / "w.duckdb") as con:
            load_gateway_files(con, apart, load_id="run-1", now=NOW, files=[apart / "raw" / "gateway" / name])
    with connect(apart / "w.duckdb") as con:
        assert _raw_state(con) == state
