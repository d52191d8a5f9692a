"""The users export asset (raw/users): a file with the bytes of the last one landed is not loaded again; any other
file is, whole, with its bad rows quarantined. Materialized with dg.materialize against a warehouse in tmp."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.defs.ingest.files import users_export
from dagster_project.resources import WarehouseResource
from ingest.warehouse import connect
from tests.conftest import FIXTURES


def _materialize(data_dir: Path) -> dict:
    result = dg.materialize([users_export], resources={"warehouse": WarehouseResource(data_dir=str(data_dir))})
    assert result.success
    (event,) = result.asset_materializations_for_node(users_export.node_def.name)
    return {name: value.value for name, value in event.metadata.items()}


def _table(data_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_an_unchanged_users_export_is_not_loaded_again_and_a_changed_one_is(tmp_path: Path):
    (tmp_path / "raw").mkdir()
    export = tmp_path / "raw" / "users.csv"
    shutil.copy(FIXTURES / "users.csv", export)
    connect(tmp_path / "warehouse.duckdb").close()

    first = _materialize(tmp_path)
    assert (first["users"], first["quarantined"], first["found"]) == (4, 1, True)
    assert "unchanged" not in first
    users = _table(tmp_path, "select id, email, created_at, plan, source_line, loaded_at from raw.users order by id")

    # the same bytes (rewritten: a new mtime and inode do not matter): not read into raw.users again
    export.write_bytes(export.read_bytes())
    second = _materialize(tmp_path)
    assert (second["users"], second["quarantined"], second["found"], second["unchanged"]) == (4, 1, True, True)
    assert _table(tmp_path, "select id, email, created_at, plan, source_line, loaded_at from raw.users "
                            "order by id") == users
    assert _table(tmp_path, "select source, lines_read, accepted, duplicates, quarantined from raw.load_log") == [
        ("raw/users.csv", 5, 4, 0, 1),
    ]
    assert _table(tmp_path, "select source, line_number, reason, field from raw.quarantine") == [
        ("raw/users.csv", 6, "missing_field", "email"),
    ]

    # one more user: loaded whole, as every changed export is
    export.write_text(export.read_text() + "usr_late,late@example.com,2026-11-25T10:00:00Z,pro\n")
    third = _materialize(tmp_path)
    assert (third["users"], third["quarantined"], third["found"]) == (5, 1, True)
    assert "unchanged" not in third
    assert _table(tmp_path, "select id, plan from raw.users order by id") == [
        ("usr_az", "team"), ("usr_late", "pro"), ("usr_new", "free"), ("usr_past", "pro"), ("usr_t95", "free"),
    ]
    assert _table(tmp_path, "select lines_read, accepted, quarantined from raw.load_log order by finished_at") == [
        (5, 4, 1), (6, 5, 1),
    ]
