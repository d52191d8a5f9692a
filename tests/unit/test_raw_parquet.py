"""The Parquet mirror of the landing (ingest/raw_parquet.py), which the Spark target reads: written with the landing's
commit, each request once, by UTC day; nothing from a rolled-back landing; a landing killed between its commit and
the file moves is published by the next one; off unless AI_USAGE_RAW_PARQUET=1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from ingest import raw_parquet
from ingest.warehouse import connect, load_gateway_files, load_users

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _line(request_id: str, created_at: str, prompt: int = 100) -> str:
    return json.dumps({"id": request_id, "created_at": created_at, "user_id": "usr_1", "model": "openai/gpt-4o-mini",
                       "status_code": 200, "native_tokens_prompt": prompt, "native_tokens_completion": 10}) + "\n"


def _data_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    gateway = tmp_path / "raw" / "gateway"
    gateway.mkdir(parents=True)
    for name, text in files.items():
        (gateway / name).write_text(text)
    shutil.copy(FIXTURES / "users.csv", tmp_path / "raw" / "users.csv")
    return tmp_path


def _land(data_dir: Path, *names: str) -> None:
    with connect(data_dir / "warehouse.duckdb") as con:
        load_gateway_files(con, data_dir, load_id="t", files=[data_dir / "raw" / "gateway" / n for n in names])
        load_users(con, data_dir, load_id="t")


def _mirror(data_dir: Path, table: str) -> list[tuple]:
    pattern = data_dir / "raw_parquet" / table / ("*/*.parquet" if table == "gateway_requests" else "*.parquet")
    day = ", day" if table == "gateway_requests" else ""
    key = "id" if table != "quarantine" else "source, line_number"
    columns = "* exclude (day)" if day else "*"
    return duckdb.sql(f"select {columns} from read_parquet('{pattern}'"
                      f"{', hive_partitioning = true' if day else ''}) order by {key}").fetchall()


def _table(data_dir: Path, table: str) -> list[tuple]:
    key = "id" if table != "quarantine" else "source, line_number"
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select * from raw.{table} order by {key}").fetchall()


DAY_1 = _line("a", "2026-11-20T08:00:00Z") + _line("b", "2026-11-20T23:59:59Z")
DAY_2 = _line("c", "2026-11-21T00:00:00Z") + _line("a", "2026-11-20T08:00:00Z")  # `a` again: a duplicate


def test_each_landing_mirrors_its_new_requests_by_utc_day(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_USAGE_RAW_PARQUET", "1")
    data_dir = _data_dir(tmp_path, {"one.jsonl": DAY_1, "two.jsonl": DAY_2 + "not json\n"})
    _land(data_dir, "one.jsonl")
    _land(data_dir, "two.jsonl")
    _land(data_dir, "two.jsonl")  # nothing new
    days = sorted(path.name for path in (data_dir / "raw_parquet" / "gateway_requests").iterdir())
    assert days == ["day=2026-11-20", "day=2026-11-21"]
    assert [row[0] for row in _mirror(data_dir, "gateway_requests")] == ["a", "b", "c"]
    for table in ("gateway_requests", "users", "quarantine"):
        assert _mirror(data_dir, table) == _table(data_dir, table), table
    assert len(_table(data_dir, "users")) == 4  # the export's 4 users (tests/fixtures/users.csv)
    # the bad line of two.jsonl, and the users export's row without an e-mail
    assert [row[2] for row in _mirror(data_dir, "quarantine")] == ["not_json", "missing_field"]
    day_1 = duckdb.sql(f"select id from read_parquet('{data_dir}/raw_parquet/gateway_requests/day=2026-11-20/*')"
                       " order by id").fetchall()
    assert day_1 == [("a",), ("b",)]  # 23:59:59Z is still the 20th (UTC)
    assert not any((data_dir / "raw_parquet" / ".pending").iterdir())


def test_a_rolled_back_landing_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_USAGE_RAW_PARQUET", "1")
    data_dir = _data_dir(tmp_path, {"one.jsonl": DAY_1})
    real_stage = raw_parquet._stage

    def stage_then_fail(con, pending, source, loaded_at):
        real_stage(con, pending, source, loaded_at)  # the files are written, then the commit never happens
        raise OSError("disk full")

    monkeypatch.setattr(raw_parquet, "_stage", stage_then_fail)
    with connect(data_dir / "warehouse.duckdb") as con:
        with pytest.raises(OSError, match="disk full"):
            load_gateway_files(con, data_dir, load_id="t", files=[data_dir / "raw" / "gateway" / "one.jsonl"])
        assert con.execute("select count(*) from raw.gateway_requests").fetchone() == (0,)
    assert not list((data_dir / "raw_parquet").glob("**/*.parquet"))


def test_a_landing_killed_after_its_commit_is_published_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_USAGE_RAW_PARQUET", "1")
    data_dir = _data_dir(tmp_path, {"one.jsonl": DAY_1, "two.jsonl": _line("c", "2026-11-21T00:00:00Z")})
    real_publish = raw_parquet._publish
    monkeypatch.setattr(raw_parquet, "_publish", lambda pending, target: None)  # "killed" before the moves
    _land(data_dir, "one.jsonl")
    pending = data_dir / "raw_parquet" / ".pending"
    left = sorted(pending.iterdir())
    assert len(left) == 2  # the requests' landing and the users' one
    for folder in left:  # as if their process had died
        folder.rename(pending / ("999999999-" + folder.name.split("-", 1)[1]))
    monkeypatch.setattr(raw_parquet, "_publish", real_publish)
    _land(data_dir, "two.jsonl")
    assert [row[0] for row in _mirror(data_dir, "gateway_requests")] == ["a", "b", "c"]
    assert _mirror(data_dir, "gateway_requests") == _table(data_dir, "gateway_requests")
    assert not any(pending.iterdir())


def test_the_mirror_is_off_by_default_and_rebuilds_from_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv("AI_USAGE_RAW_PARQUET", raising=False)
    data_dir = _data_dir(tmp_path, {"one.jsonl": DAY_1, "two.jsonl": DAY_2})
    _land(data_dir, "one.jsonl", "two.jsonl")
    assert not (data_dir / "raw_parquet").exists()
    with connect(data_dir / "warehouse.duckdb") as con:
        assert raw_parquet.rebuild(con, data_dir) == 3
    assert _mirror(data_dir, "gateway_requests") == _table(data_dir, "gateway_requests")
    assert _mirror(data_dir, "users") == _table(data_dir, "users")
