"""A view whose SQL and upstream columns did not change is left as it is by the next build (macros/views.sql).

Proof that a view was not touched: a column comment set by hand on it survives the run (re-creating the view drops
it), its fingerprint comment is the same, and dbt reports it UNCHANGED. Changed SQL, a changed upstream column, or
`--full-refresh` re-create it, and it then gives the rows of its new SQL over the current upstream.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import copy_dbt_project, run_dbt

VIEW = "staging.stg_raw__users"
MARKER = "set by hand: gone when the view is re-created"


@pytest.fixture()
def copies(built_warehouse: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(a copy of the dbt project that the test may edit, a data directory with a copy of the built warehouse)."""
    project = copy_dbt_project(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(built_warehouse / "warehouse.duckdb", data_dir / "warehouse.duckdb")
    return project, data_dir


def _run(project: Path, data_dir: Path, *args: str) -> dict[str, str]:
    """`dbt run` with `args`; {model name: dbt's message} of its run_results.json (models only, not the hooks)."""
    run_dbt(project, data_dir, "run", *args, timeout=300)
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    return {result["unique_id"].split(".")[-1]: result["message"] for result in results
            if result["unique_id"].startswith("model.")}


def _query(data_dir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        return con.execute(sql).fetchall()


def _state(data_dir: Path, view: str = VIEW) -> tuple:
    """(the view's comment, its stored columns with their types and comments)."""
    schema, name = view.split(".")
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        comment = con.execute("select comment from duckdb_views() where schema_name = ? and view_name = ?",
                              [schema, name]).fetchone()[0]
        columns = con.execute("select column_name, data_type, comment from duckdb_columns() where schema_name = ? "
                              "and table_name = ? order by column_index", [schema, name]).fetchall()
    return comment, columns


def _mark(data_dir: Path, view: str, column: str) -> None:
    _query(data_dir, f"comment on column {view}.{column} is '{MARKER}'")


def test_a_second_run_leaves_every_unchanged_view_untouched(copies):
    project, data_dir = copies
    first = _run(project, data_dir, "--select", "config.materialized:view")
    assert len(first) == 21
    views = _query(data_dir, "select schema_name || '.' || view_name from duckdb_views() where not internal "
                             "and comment like 'dbt view %' order by 1")
    assert len(views) == 21
    before = {}
    for (view,) in views:
        first_column = _state(data_dir, view)[1][0][0]
        _mark(data_dir, view, first_column)
        before[view] = _state(data_dir, view)
        assert before[view][1][0][2] == MARKER

    second = _run(project, data_dir, "--select", "config.materialized:view")

    assert second == {name: "UNCHANGED" for name in first}
    assert {view: _state(data_dir, view) for view in before} == before


def test_changed_sql_re_creates_the_view_with_its_new_rows(copies):
    project, data_dir = copies
    _run(project, data_dir, "--select", "stg_raw__users")
    _mark(data_dir, VIEW, "email")
    old_comment = _state(data_dir)[0]
    model = project / "models" / "staging" / "raw" / "stg_raw__users.sql"
    model.write_text(model.read_text().replace("        email,", "        upper(email) as email,"))

    assert _run(project, data_dir, "--select", "stg_raw__users") == {"stg_raw__users": "OK"}

    comment, columns = _state(data_dir)
    assert comment.startswith("dbt view ") and comment != old_comment
    assert [c[2] for c in columns] == [None, None, None, None]  # the hand-set comment went with the old view
    expected = _query(data_dir, "select id, upper(email), created_at, plan from raw.users order by id")
    assert len(expected) > 1 and any(row[1] for row in expected)
    assert _query(data_dir, f"select * from {VIEW} order by user_id") == expected
    # and now it is the view of this SQL: the next run keeps it
    _mark(data_dir, VIEW, "email")
    assert _run(project, data_dir, "--select", "stg_raw__users") == {"stg_raw__users": "UNCHANGED"}
    assert _state(data_dir)[1][1][2] == MARKER


def test_a_changed_upstream_column_re_creates_the_view_whose_sql_did_not_change(copies):
    project, data_dir = copies
    _run(project, data_dir, "--select", "stg_raw__users")
    _mark(data_dir, VIEW, "email")
    comment, columns = _state(data_dir)
    assert columns[2][:2] == ("created_at", "TIMESTAMP")
    # the upstream's column changes type (DuckDB would keep the view's recorded TIMESTAMP in its catalog)
    _query(data_dir, "alter table raw.users alter column created_at type timestamp with time zone")

    assert _run(project, data_dir, "--select", "stg_raw__users") == {"stg_raw__users": "OK"}

    new_comment, new_columns = _state(data_dir)
    assert new_comment == comment  # the same SQL
    assert new_columns == [("user_id", "VARCHAR", None), ("email", "VARCHAR", None),
                           ("created_at", "TIMESTAMP WITH TIME ZONE", None), ("plan", "VARCHAR", None)]
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert [c[0] for c in con.execute(f"select * from {VIEW}").description] == [
            "user_id", "email", "created_at", "plan"]
        assert con.execute(f"select * from {VIEW} order by user_id").fetchall() == con.execute(
            "select id, email, created_at, plan from raw.users order by id").fetchall()
    assert _run(project, data_dir, "--select", "stg_raw__users") == {"stg_raw__users": "UNCHANGED"}


def test_full_refresh_re_creates_an_unchanged_view(copies):
    project, data_dir = copies
    _run(project, data_dir, "--select", "stg_raw__users")
    _mark(data_dir, VIEW, "email")

    assert _run(project, data_dir, "--select", "stg_raw__users", "--full-refresh") == {"stg_raw__users": "OK"}

    assert [c[2] for c in _state(data_dir)[1]] == [None, None, None, None]


def test_a_view_without_the_fingerprint_is_re_created(copies):
    """A view created by dbt's own materialization (an older version of the project) carries no fingerprint."""
    project, data_dir = copies
    _run(project, data_dir, "--select", "stg_raw__users")
    _query(data_dir, f"comment on view {VIEW} is null")
    _mark(data_dir, VIEW, "email")

    assert _run(project, data_dir, "--select", "stg_raw__users") == {"stg_raw__users": "OK"}

    comment, columns = _state(data_dir)
    assert comment.startswith("dbt view ") and [c[2] for c in columns] == [None, None, None, None]
