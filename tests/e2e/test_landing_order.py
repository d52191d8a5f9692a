"""Reproducible billing: every past bill can be rebuilt from what the project keeps (the drop zone and its landing
ledger), even though "the first version of an id wins" depends on the order in which files were landed.

The expensive test rebuilds the whole warehouse through Dagster and dbt and compares every bill; the others pin the
ledger's rules on the raw layer (renames, a kill between commit and ledger append, a torn ledger line).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from ingest import ledger
from ingest.files import file_fingerprint
from ingest.warehouse import _prefix_fingerprint, connect, load_gateway_files
from tests.conftest import materialize_all, write_fixture_data

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)
# Columns that say when something was computed, not what was billed.
VOLATILE = {"load_id", "loaded_at", "priced_at", "updated_at"}


def record(request_id: str, *, prompt: int = 100, user: str = "usr_1", hour: int = 8, day: int = 20) -> str:
    return json.dumps(
        {
            "id": request_id,
            "created_at": f"2026-11-{day}T{hour:02d}:00:00Z",
            "user_id": user,
            "model": "openai/gpt-4o-mini",
            "native_tokens_prompt": prompt,
            "native_tokens_completion": 10,
        }
    ) + "\n"


def table(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    columns = [row[0] for row in con.execute(f"describe {name}").fetchall() if row[0] not in VOLATILE]
    return con.execute(f"select {', '.join(columns)} from {name} order by all").fetchall()


def bills(data_dir: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return {name: table(con, name)
                for name in ("raw.gateway_requests", "ai_usage_analytics", "ai_revenue_analytics")}


@pytest.mark.slow
def test_deleting_the_warehouse_and_running_again_rebuilds_every_bill(tmp_path):
    data_dir = write_fixture_data(tmp_path / "data")
    gateway = data_dir / "raw" / "gateway"
    with connect(data_dir / "warehouse.duckdb") as con:  # an earlier run: the fixture's two files
        load_gateway_files(con, data_dir, load_id="run-1", now=NOW)

    # A file that arrives later but sorts first by name, with other versions of ids already billed (g01 from
    # 2026-11-20.jsonl, g08 from 2026-11-21.jsonl.gz) and one new request.
    resent = gateway / "2026-11-20-resent.jsonl"
    resent.write_text(
        record("g01", prompt=500_000, user="usr_other", hour=9)
        + record("g08", prompt=400_000, user="usr_other", hour=10, day=21)
        + record("g90", prompt=1234, user="usr_past", hour=12)
    )
    assert sorted(path.name for path in gateway.iterdir())[0] == resent.name
    assert materialize_all(data_dir).success
    billed = bills(data_dir)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select id, source from raw.gateway_requests where id in ('g01', 'g08', 'g90') order by id"
        ).fetchall() == [("g01", "raw/gateway/2026-11-20.jsonl"), ("g08", "raw/gateway/2026-11-21.jsonl.gz"),
                         ("g90", "raw/gateway/2026-11-20-resent.jsonl")]
        assert con.execute(
            "select request_id, line_number from raw.quarantine where source = ? order by line_number",
            [f"raw/gateway/{resent.name}"],
        ).fetchall() == [("g01", 1), ("g08", 2)]
    assert [(entry.sequence, entry.file) for entry in ledger.read_ledger(ledger.ledger_path(data_dir))] == [
        (1, "raw/gateway/2026-11-20.jsonl"), (2, "raw/gateway/2026-11-21.jsonl.gz"), (3, f"raw/gateway/{resent.name}")
    ]

    # Without the ledger, landing the same drop zone in name order bills the resent versions: the bills the
    # ledger must protect really do depend on the order.
    control = tmp_path / "control"
    shutil.copytree(gateway, control / "raw" / "gateway")
    with connect(control / "warehouse.duckdb") as con:
        load_gateway_files(con, control, load_id="control", now=NOW)
        assert con.execute(
            "select id, source from raw.gateway_requests where id in ('g01', 'g08') order by id"
        ).fetchall() == [("g01", f"raw/gateway/{resent.name}"), ("g08", f"raw/gateway/{resent.name}")]

    # The README's "start over": delete the warehouse, keep raw/ (the files and the ledger), run again.
    (data_dir / "warehouse.duckdb").unlink()
    assert materialize_all(data_dir).success
    rebuilt = bills(data_dir)
    for name in billed:
        assert rebuilt[name] == billed[name], name
    assert len(billed["ai_usage_analytics"]) > 10 and len(billed["ai_revenue_analytics"]) == 2
    assert len(ledger.read_ledger(ledger.ledger_path(data_dir))) == 3  # a rebuild adds nothing to the ledger


def write(data_dir: Path, name: str, text: str) -> Path:
    path = data_dir / "raw" / "gateway" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def landed(con) -> list[tuple]:
    return con.execute("select id, native_tokens_prompt, source from raw.gateway_requests order by id").fetchall()


def test_a_rebuild_lands_known_files_in_ledger_order_then_new_ones_in_name_order_and_matches_renames(tmp_path):
    write(tmp_path, "b.jsonl", record("x1", prompt=1) + record("x2", prompt=2))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
    write(tmp_path, "a.jsonl", record("x1", prompt=10) + record("x3", prompt=30))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
    (tmp_path / "warehouse.duckdb").unlink()

    # b.jsonl renamed so that it sorts last, and a new file that conflicts with both.
    (tmp_path / "raw" / "gateway" / "b.jsonl").rename(tmp_path / "raw" / "gateway" / "z-renamed.jsonl")
    write(tmp_path, "0-new.jsonl", record("x1", prompt=100) + record("x3", prompt=300) + record("x4", prompt=4))
    messages: list[str] = []
    with connect(tmp_path / "warehouse.duckdb") as con:
        results = load_gateway_files(con, tmp_path, load_id="rebuild", now=NOW, progress=messages.append)
        assert [(r.source, r.accepted, r.quarantined) for r in results] == [
            ("raw/gateway/z-renamed.jsonl", 2, 0), ("raw/gateway/a.jsonl", 1, 1), ("raw/gateway/0-new.jsonl", 1, 2)
        ]
        assert landed(con) == [("x1", 1, "raw/gateway/z-renamed.jsonl"), ("x2", 2, "raw/gateway/z-renamed.jsonl"),
                               ("x3", 30, "raw/gateway/a.jsonl"), ("x4", 4, "raw/gateway/0-new.jsonl")]
    assert messages[0].endswith("2 files landed before land again in the order they first landed")
    entries = ledger.read_ledger(ledger.ledger_path(tmp_path))
    assert [(entry.sequence, entry.file, entry.lines) for entry in entries] == [
        (1, "raw/gateway/b.jsonl", 2), (2, "raw/gateway/a.jsonl", 2), (3, "raw/gateway/0-new.jsonl", 3)
    ]
    assert entries[2].sha256 == file_fingerprint(tmp_path / "raw" / "gateway" / "0-new.jsonl")


def load_log(con) -> list[tuple]:
    return con.execute(
        "select source, sha256, lines_read, accepted, duplicates, quarantined from raw.load_log order by all"
    ).fetchall()


def quarantine(con) -> list[tuple]:
    return con.execute("select source, line_number, reason, detail from raw.quarantine order by all").fetchall()


def test_a_file_that_grew_after_landing_is_replayed_as_it_was_landed(tmp_path):
    grows = write(tmp_path, "a.jsonl", record("x1", prompt=1))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
    write(tmp_path, "b.jsonl", record("x1", prompt=2) + record("x2", prompt=20))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
    with grows.open("a") as handle:  # today's log, appended to after it was landed
        handle.write(record("x2", prompt=30))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-3", now=NOW)
        billed = (landed(con), load_log(con), quarantine(con))
    assert billed[0] == [("x1", 1, "raw/gateway/a.jsonl"), ("x2", 20, "raw/gateway/b.jsonl")]

    (tmp_path / "warehouse.duckdb").unlink()
    messages: list[str] = []
    with connect(tmp_path / "warehouse.duckdb") as con:
        results = load_gateway_files(con, tmp_path, load_id="rebuild", now=NOW, progress=messages.append)
        assert (landed(con), load_log(con), quarantine(con)) == billed
    assert [(r.source, r.lines_read, r.accepted) for r in results] == [
        ("raw/gateway/a.jsonl", 1, 1), ("raw/gateway/b.jsonl", 2, 1), ("raw/gateway/a.jsonl", 2, 0)
    ]
    first_version = len(record("x1", prompt=1).encode())
    assert messages[1].startswith(f"[1/3] raw/gateway/a.jsonl (its first {first_version} bytes, as first landed): ")
    assert len(ledger.read_ledger(ledger.ledger_path(tmp_path))) == 3


def test_a_kill_between_commit_and_ledger_append_is_reconciled_in_load_order(tmp_path):
    write(tmp_path, "b.jsonl", record("x1", prompt=1))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
    write(tmp_path, "a.jsonl", record("x1", prompt=10) + record("x2", prompt=20))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
    path = ledger.ledger_path(tmp_path)
    # As if killed after the commits but before either append: the ledger holds only its header.
    path.write_text(ledger.HEADER)
    write(tmp_path, "c.jsonl", record("x3", prompt=3))
    with connect(tmp_path / "warehouse.duckdb") as con:
        (a, b, c) = load_gateway_files(con, tmp_path, load_id="run-3", now=NOW)
        assert (a.skipped, b.skipped, c.accepted) == (True, True, 1)
    assert [(entry.sequence, entry.file) for entry in ledger.read_ledger(path)] == [
        (1, "raw/gateway/b.jsonl"), (2, "raw/gateway/a.jsonl"), (3, "raw/gateway/c.jsonl")
    ]
    (tmp_path / "warehouse.duckdb").unlink()
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="rebuild", now=NOW)
        assert landed(con) == [("x1", 1, "raw/gateway/b.jsonl"), ("x2", 20, "raw/gateway/a.jsonl"),
                               ("x3", 3, "raw/gateway/c.jsonl")]


def test_a_torn_last_ledger_line_is_cut_and_written_again(tmp_path):
    write(tmp_path, "a.jsonl", record("x1"))
    write(tmp_path, "b.jsonl", record("x2"))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
    path = ledger.ledger_path(tmp_path)
    whole = path.read_text()
    path.write_text(whole[: whole.rindex("raw/gateway/b.jsonl") + 5])  # a crash in the middle of the last append
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-2", now=NOW)
    text = path.read_text()
    assert text.startswith(whole.splitlines(keepends=True)[0] + whole.splitlines(keepends=True)[1])
    assert text.endswith("\n") and len(text.splitlines()) == 3
    entries = ledger.read_ledger(path)
    assert [(entry.sequence, entry.file, entry.lines) for entry in entries] == [
        (1, "raw/gateway/a.jsonl", 1), (2, "raw/gateway/b.jsonl", 1)
    ]


def test_a_damaged_ledger_stops_the_landing_with_the_line_and_field(tmp_path):
    write(tmp_path, "a.jsonl", record("x1"))
    path = ledger.ledger_path(tmp_path)
    path.write_text(ledger.HEADER + f"1,{'a' * 64},raw/gateway/a.jsonl,180,1,2026-11-20T00:00:00Z\n"
                    f"two,{'b' * 64},raw/gateway/b.jsonl,180,1,2026-11-20T00:00:00Z\n")
    with connect(tmp_path / "warehouse.duckdb") as con:
        with pytest.raises(ValueError, match=r"landing_ledger.csv: line 3: field 'sequence' is 'two'"):
            load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
        assert con.execute("select count(*) from raw.load_log").fetchone() == (0,)


def test_the_ledger_warns_about_landed_files_that_are_gone(tmp_path):
    write(tmp_path, "a.jsonl", record("x1"))
    gone = write(tmp_path, "b.jsonl", record("x2"))
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="run-1", now=NOW)
    gone.unlink()
    (tmp_path / "warehouse.duckdb").unlink()
    messages: list[str] = []
    with connect(tmp_path / "warehouse.duckdb") as con:
        load_gateway_files(con, tmp_path, load_id="rebuild", now=NOW, progress=messages.append)
    assert any(
        "1 files landed before are neither in the warehouse nor in the drop zone (first: #2 raw/gateway/b.jsonl"
        in message for message in messages
    ), messages


def test_an_earlier_version_is_looked_for_only_in_a_regular_file(tmp_path):
    """The prefix replay opens files as the drop zone does: a link (here to the very content the ledger knows) is
    neither fingerprinted nor copied, so nothing outside the drop zone is read through it."""
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b'{"id": "x"}\n{"id": "y"}\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(outside)
    size = len(b'{"id": "x"}\n')
    assert _prefix_fingerprint(outside, size) == hashlib.sha256(b'{"id": "x"}\n').hexdigest()
    assert _prefix_fingerprint(link, size) is None

