"""The data tests that production runs still fail on the bad data they are meant to catch, after they were folded
into fewer, cheaper tests (README "Performance", dbt_project/docs/incremental-builds.md "Data tests").

Each test corrupts a copy of the shared `built_warehouse` and runs `dbt test` on it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from dagster_project.project import dbt_project
from tests.conftest import compiled_test, dbt_test

DBT_DIR = Path(dbt_project.project_dir)

# The views whose key tests were dropped as covered by the tests of what they read (their yml says which), and the
# key each still has: one row per key on good data.
VIEWS_WITHOUT_TESTS_OF_THEIR_OWN = {
    "report_daily": ("date",),
    "user_spending": ("user_id",),
    "user_spending_daily": ("user_id", "date"),
    "trial_usage_daily": ("date",),
    "user_statements": ("period_month", "user_id"),
    "user_statement_totals": ("period_month",),
    "monthly_revenue": ("period_month",),
}


def _failed(results: list[dict]) -> dict[str, int]:
    return {r["unique_id"].split(".")[2]: r["failures"] for r in results if r["status"] == "fail"}


def test_the_request_sum_tests_fail_on_a_repeated_or_null_key(built_warehouse: Path, tmp_path: Path):
    """The request-sum tests also check their mart's key (they replaced user_ai_usage_summary's unique (user_id,
    date), ai_revenue_analytics' and model_popularity's unique keys): a group held in two rows fails even when the
    rows still add up to the requests' sums (a second row of zeros), and a row whose key is null fails."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    zeros = {
        "user_ai_usage_summary": ("requests", "user_charge_usd", "total_tokens", "trial_tokens", "provider_cost_usd",
                                  "markup_usd", "trial_credit_usd"),
        "ai_revenue_analytics": ("requests", "provider_cost_usd", "revenue_usd", "profit_usd", "trial_credit_usd"),
        "model_popularity": ("requests", "users", "total_tokens", "provider_cost_usd", "user_charge_usd",
                             "markup_usd"),
    }
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        user, day = con.execute("select user_id, date from user_ai_usage_summary order by all limit 1").fetchone()
        first_day = con.execute("select min(date) from ai_revenue_analytics").fetchone()[0]
        model = con.execute("select min(model) from model_popularity").fetchone()[0]
        # a row with no day: a request's day is never null, so the row is a group of its own that no request has
        con.execute("insert into user_ai_usage_summary select * replace (null as date) from user_ai_usage_summary "
                    "where user_id = ? and date = ?", [user, day])
        for mart, (key, value) in {"user_ai_usage_summary": ("user_id = ? and date = ?", [user, day]),
                                   "ai_revenue_analytics": ("date = ?", [first_day]),
                                   "model_popularity": ("model = ?", [model])}.items():
            replaced = ", ".join(f"0 as {column}" for column in zeros[mart])
            con.execute(f"insert into {mart} select * replace ({replaced}) from {mart} where {key}", value)
    tests = ("assert_user_summary_equals_request_sum", "assert_daily_revenue_equals_request_sum",
             "assert_model_popularity_equals_request_sum")
    results = dbt_test(tmp_path, *tests)
    assert _failed(results) == {tests[0]: 2, tests[1]: 1, tests[2]: 1}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        requests = con.execute("select requests from user_ai_usage_summary where user_id = ? and date = ? "
                               "and requests > 0", [user, day]).fetchone()[0]
        summary = con.execute(f"select user_id, date, mart_rows, requests, requests_in_mart from "
                              f"({compiled_test(tmp_path, tests[0])}) order by date nulls last").fetchall()
        # the day's two rows add up to its requests; the row with no day has none
        assert summary == [(user, day, 2, requests, requests), (user, None, 1, None, requests)]
        assert con.execute(f"select date, mart_rows, revenue_usd = revenue_usd_in_mart "
                           f"from ({compiled_test(tmp_path, tests[1])})").fetchall() == [(first_day, 2, True)]
        assert con.execute(f"select model, mart_rows, users = users_in_mart "
                           f"from ({compiled_test(tmp_path, tests[2])})").fetchall() == [(model, 2, True)]


def test_the_views_without_tests_of_their_own_repeat_a_key_only_when_a_tested_input_fails(
        built_warehouse: Path, tmp_path: Path):
    """The views whose key tests were dropped hold one row per key on good data (checked here, in CI). The bad data
    that would repeat or blank their key fails a test of what they read: a user listed twice in users (the
    statements' and user_spending's join) fails unique_users_id; a request with no user fails
    ai_usage_analytics_row_checks (user_id_not_null). They are views (a table would need its own tests again)."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        for view, key in VIEWS_WITHOUT_TESTS_OF_THEIR_OWN.items():
            columns = ", ".join(key)
            repeated = con.execute(f"select count(*) from (select {columns} from {view} group by all "
                                   f"having count(*) > 1 or bool_or({' or '.join(f'{c} is null' for c in key)}))"
                                   ).fetchone()[0]
            assert (view, repeated) == (view, 0)
        user = con.execute("select min(user_id) from user_statements where email is not null").fetchone()[0]
        con.execute("insert into users select * from users where id = ?", [user])
        request = con.execute("select min(request_id) from ai_usage_analytics").fetchone()[0]
        con.execute("update ai_usage_analytics set user_id = null where request_id = ?", [request])
        # what the dropped tests would have seen: the user's statements twice
        assert con.execute("select count(*) from user_statements where user_id = ?", [user]).fetchone()[0] == 2 * (
            con.execute("select count(distinct period_month) from user_statements where user_id = ?",
                        [user]).fetchone()[0])
        assert con.execute("select count(*) from user_spending where user_id = ?", [user]).fetchone()[0] == 2
    results = dbt_test(tmp_path, "users,test_type:data", "ai_usage_analytics,test_type:data")
    assert _failed(results) == {"unique_users_id": 1, "ai_usage_analytics_row_checks": 1}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert con.execute(f"select failed_check, request_id from "
                           f"({compiled_test(tmp_path, 'ai_usage_analytics_row_checks')})").fetchall() == [
            ("user_id_not_null", request)]
    nodes = json.loads((tmp_path / "target" / "manifest.json").read_text())["nodes"]
    materialized = {node["name"]: node["config"]["materialized"] for node in nodes.values()
                    if node["resource_type"] == "model" and node["name"] in VIEWS_WITHOUT_TESTS_OF_THEIR_OWN}
    assert materialized == dict.fromkeys(VIEWS_WITHOUT_TESTS_OF_THEIR_OWN, "view")
    tested = {node["attached_node"].split(".")[-1] for node in nodes.values()
              if node["resource_type"] == "test" and node.get("attached_node")}
    assert tested & set(VIEWS_WITHOUT_TESTS_OF_THEIR_OWN) == set()


def test_the_uniqueness_tests_found_by_hash_name_every_repeated_key(built_warehouse: Path, tmp_path: Path):
    """unique_combination_of_columns and row_checks' unique() group the rows by a hash of the key first and then the
    rows of a repeated hash by the key itself (repeated_keys, macros/test_scope.sql): a repeated key of three columns
    fails with its rows counted, a repeated request id fails both its rows, and a null key (nulls equal in a
    combination) is found as well."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        model, user, day = con.execute("select model, user_id, created_date from intermediate.int_model_usage_daily "
                                       "order by all limit 1").fetchone()
        con.execute("insert into intermediate.int_model_usage_daily select * from intermediate.int_model_usage_daily "
                    "where model = ? and user_id = ? and created_date = ?", [model, user, day])
        # two rows of one user whose day is null: the same combination (model, user, null) twice
        con.execute("insert into intermediate.int_model_usage_daily select * replace (null as created_date) "
                    "from intermediate.int_model_usage_daily where model = ? and user_id = ? and created_date = ? "
                    "limit 2", [model, user, day])
        request = con.execute("select max(request_id) from intermediate.int_requests_trial_applied").fetchone()[0]
        con.execute("insert into intermediate.int_requests_trial_applied select * "
                    "from intermediate.int_requests_trial_applied where request_id = ?", [request])
    results = dbt_test(tmp_path, "int_model_usage_daily,test_type:data", "int_requests_trial_applied,test_type:data")
    unique = "unique_combination_of_columns_int_model_usage_daily_model__user_id__created_date"
    assert _failed(results) == {unique: 2, "int_requests_trial_applied_row_checks": 2}
    # a generic test's compiled file is named by a hash: its SQL as run, from run_results
    compiled = next(r["compiled_code"] for r in results if r["unique_id"].split(".")[2] == unique)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert "hash(model, user_id, created_date)" in compiled
        assert con.execute(f"select * from ({compiled}) order by all").fetchall() == [
            (model, user, day, 2), (model, user, None, 2)]
        assert con.execute(f"select failed_check, request_id from "
                           f"({compiled_test(tmp_path, 'int_requests_trial_applied_row_checks')})").fetchall() == [
            ("request_id_unique", request), ("request_id_unique", request)]
