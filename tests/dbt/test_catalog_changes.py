"""Every kind of catalog change, applied incrementally, leaves every mart and rollup equal to a full refresh.

The fixture gets one more file: a third day whose only request is for `azure/crowe-logic-assistant`. Then the
catalog seed changes step by step, and after each step warehouse A is rebuilt incrementally (`dbt build`, its data
tests included) while warehouse B is rebuilt from scratch on the same catalog: every table must be equal, row for
row. The steps cover a price row removed (a user-day, a whole day and a model lose every request), a `valid_from`
moved later (some of a group's requests held back), a price corrected, and a model added while a removed one comes
back (held-back requests priced again).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import copy_dbt_project, run_dbt
from tests.dbt.test_incremental import ALERTS, MARTS, _snapshot, _window, place_files

SEED = Path("seeds") / "model_prices.csv"
DAY3 = "2026-11-22.jsonl"
DAY3_LINE = {"id": "az-3", "created_at": "2026-11-22T09:00:00Z", "user_id": "usr_az",
             "model": "azure/crowe-logic-assistant", "status_code": 200, "native_tokens_prompt": 2000,
             "native_tokens_completion": 300}
TABLES = {**MARTS, "int_model_usage_daily": "model, user_id, created_date",
          "int_pricing_policy_daily": "scenario, date", **ALERTS}


def _edit_seed(project: Path, edit) -> None:
    with (project / SEED).open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    rows = edit(rows)
    with (project / SEED).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _without(model: str):
    return lambda rows: [row for row in rows if row["model"] != model]


def _set(model: str, **values):
    def edit(rows):
        for row in rows:
            if row["model"] == model:
                row.update(values)
        return rows
    return edit


def _added(source_rows: list[dict], like: str, **values):
    """Add the row of model `like` from `source_rows`, with `values` changed."""
    def edit(rows):
        template = dict(next(row for row in source_rows if row["model"] == like))
        template.update(values)
        return [*rows, template]
    return edit


def _restored(source_rows: list[dict], model: str):
    """The rows of `model` as in `source_rows` again."""
    return lambda rows: [*(row for row in rows if row["model"] != model),
                         *(row for row in source_rows if row["model"] == model)]


def _full_refresh(project: Path, incremental: Path, data_dir: Path) -> dict:
    """Every model rebuilt from scratch on a copy of the incremental warehouse (the same raw data and seeds)."""
    data_dir.mkdir(exist_ok=True)
    shutil.copyfile(incremental / "warehouse.duckdb", data_dir / "warehouse.duckdb")
    run_dbt(project, data_dir, "run", "--full-refresh")
    return _snapshot(data_dir, TABLES)


def _sums(data_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture()
def project(tmp_path) -> Path:
    return copy_dbt_project(tmp_path)


@pytest.mark.slow
def test_catalog_changes_applied_incrementally_equal_a_full_refresh(tmp_path, project):
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    place_files(incremental, extra={DAY3: [DAY3_LINE]})
    run_dbt(project, incremental, "seed")
    run_dbt(project, incremental, "build", "--vars", _window("2026-11-20", 3))
    assert _sums(incremental, "select date::varchar, requests from ai_revenue_analytics order by date") == [
        ("2026-11-20", 7), ("2026-11-21", 4), ("2026-11-22", 1)]
    with (project / SEED).open(newline="") as handle:
        original = list(csv.DictReader(handle))

    steps = [
        # a price row removed: usr_az's two days, the whole of 2026-11-22 and the model itself lose every request
        ("row removed", _without("azure/crowe-logic-assistant")),
        # valid_from moved later: the claude requests of 2026-11-20 are held back, the rest of their groups stay
        ("valid_from moved", _set("anthropic/claude-3.5-sonnet", valid_from="2026-11-21")),
        # a price corrected
        ("price corrected", _set("openai/gpt-4o-mini", input_price_per_1m_usd="0.160000")),
        # a model added (its held-back request is priced) and the removed and moved rows back as they were (their
        # held-back requests priced again)
        ("model added, rows back", lambda rows: _restored(original, "anthropic/claude-3.5-sonnet")(
            _added(original, "azure/crowe-logic-assistant")(
                _added(original, "openai/gpt-4o-mini", model="acme/mystery-model", provider="acme",
                       display_name="Mystery", tier="speed")(rows)))),
    ]
    for name, edit in steps:
        _edit_seed(project, edit)
        # an incremental run of everything for one day, as the next sensor or schedule run does: the seeds, the
        # models and their data tests (the sums of the marts against ai_usage_analytics among them)
        run_dbt(project, incremental, "build", "--vars", _window("2026-11-21"))
        result = _snapshot(incremental, TABLES)
        expected = _full_refresh(project, incremental, full)
        for table in TABLES:
            assert result[table] == expected[table], f"after '{name}': {table} differs from a full refresh"
        if name == "row removed":
            assert _sums(incremental, "select date::varchar from ai_revenue_analytics order by date") == [
                ("2026-11-20",), ("2026-11-21",)]
            assert _sums(incremental, "select count(*) from model_popularity where model like 'azure/%'") == [(0,)]
            assert _sums(incremental, "select count(*) from user_ai_usage_summary where user_id = 'usr_az'") == [(0,)]
            assert _sums(incremental, "select request_id from unpriced_requests where model like 'azure/%' "
                                      "order by 1") == [("az-3",), ("g07",)]
        if name == "valid_from moved":
            held = _sums(incremental, "select request_id from unpriced_requests where model like 'anthropic/%' "
                                      "order by 1")
            assert held == [("g01",), ("late-1",)]
    # at the end every request is priced again
    assert _sums(incremental, "select count(*) from unpriced_requests") == [(0,)]
    assert _sums(incremental, "select count(*) from ai_usage_analytics") == [(13,)]
