"""Pricing that finance can trust: the dated catalog, the what-if scenarios and the pricing knobs, end to end.

The standard build (markup 25%, minimum $0.001, trial 100,000, default scenarios) is read from the shared
`built_warehouse`; a copy of it is rebuilt by dbt with other knobs, and the knobs' validation runs
`dbt run-operation` in-process (it fails while parsing, before any SQL). Money by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from dagster_project.project import dbt_executable, dbt_project
from tests.conftest import compiled_test, dbt_test

DBT_DIR = Path(dbt_project.project_dir)


def test_default_scenarios_reprice_history(con):
    # Current (fixture, by hand in test_end_to_end): revenue 0.201431818182, profit -0.431418181818,
    # trial credit 0.591943181818, 2 requests at the minimum (g02, g10).
    # markup_30: g02 and g10 stay at the minimum; g08 0.117 x 17000/22000 = 0.090409090909; g09 0.117.
    # no_trial: every list charge:
    #   0.525 + 0.001 + 0.020625 + 0.001 + 0.01875 + 0.1125 + 0.1125 + 0.001 + 0.001.
    # min_0_002: g02 and g10 pay 0.002.
    rows = con.execute(
        """
        select scenario, month::varchar, requests, billed_requests, provider_cost_usd, revenue_usd,
               profit_usd, margin_percentage, requests_at_minimum, trial_tokens, trial_credit_usd,
               revenue_diff_usd, profit_diff_usd, requests_at_minimum_diff, trial_credit_diff_usd
        from pricing_scenario_comparison order by scenario_order, month
        """
    ).fetchall()
    assert rows == [
        ("current", "2026-11-01", 10, 9, D("0.63285"), D("0.201431818182"), D("-0.431418181818"),
         D("-214.1758"), 2, 206000, D("0.591943181818"), D("0"), D("0"), 0, D("0")),
        ("markup_30", "2026-11-01", 10, 9, D("0.63285"), D("0.209409090909"), D("-0.423440909091"),
         D("-202.2075"), 2, 206000, D("0.615540909091"), D("0.007977272727"), D("0.007977272727"), 0,
         D("0.023597727273")),
        ("no_trial", "2026-11-01", 10, 9, D("0.63285"), D("0.793375"), D("0.160525"), D("20.2332"), 4, 0,
         D("0"),         D("0.591943181818"), D("0.591943181818"), 2, D("-0.591943181818")),
        ("min_0_002", "2026-11-01", 10, 9, D("0.63285"), D("0.203431818182"), D("-0.429418181818"),
         D("-211.0870"), 2, 206000, D("0.593943181818"), D("0.002"), D("0.002"), 0, D("0.002")),
    ]


def test_catalog_is_dated_and_requests_say_which_row_priced_them(con):
    assert con.execute(
        """
        select valid_from::varchar, valid_to::varchar, input_price_per_1m_usd, output_price_per_1m_usd,
               cache_read_price_per_1m_usd
        from model_catalog
        where model = 'openai/gpt-4o' and service_tier = 'any' and input_tokens_above is null
        order by valid_from
        """
    ).fetchall() == [
        # the prices the platform billed (overrides), then genai-prices from the day the catalog switched to it
        ("2024-05-13", "2024-10-02", D("5"), D("15"), None),
        ("2024-10-02", "2026-12-01", D("2.5"), D("10"), D("1.25")),
        ("2026-12-01", None, D("2.5"), D("10"), D("1.25")),
    ]
    # The guide's prices are the ones in effect today.
    assert con.execute(
        """
        select model, input_price_per_1m_usd, output_price_per_1m_usd from model_catalog
        where model in ('openai/gpt-4o-mini', 'anthropic/claude-3.5-sonnet')
            and valid_from <= date '2026-10-25' and (valid_to is null or valid_to > date '2026-11-24')
        order by model
        """
    ).fetchall() == [
        ("anthropic/claude-3.5-sonnet", D("3"), D("15")),
        ("openai/gpt-4o-mini", D("0.15"), D("0.6")),
    ]
    assert con.execute(
        "select distinct price_valid_from::varchar from ai_usage_analytics where is_billed"
    ).fetchall() == [("2024-01-01",)]
    # which row priced each request: the fixture's requests are all default-tier, all-day, base-tier
    assert con.execute(
        """
        select distinct service_tier, price_service_tier, price_window_start, price_input_tokens_above,
               catalog_model = model
        from ai_usage_analytics where is_billed
        """
    ).fetchall() == [("default", "any", None, None, True)]


# Another build of the fixture: anthropic 30%, the assistant 40%, the trial only for users who signed up on or
# after 2026-11-01 (not usr_past, created 2026-10-01, nor usr_ghost, missing from the users export), days in
# Auckland (UTC+13 in November), and two one-off scenarios.
OTHER_VARS = """{
  provider_markup_percentage: {anthropic: 30},
  model_markup_percentage: {"azure/crowe-logic-assistant": 40},
  trial_start_date: "2026-11-01",
  reporting_timezone: Pacific/Auckland,
  pricing_scenarios: [
    {name: same},
    {name: flat_20, markup_percentage: 20, provider_markup_percentage: {}, model_markup_percentage: {}}
  ]
}"""

# request id -> (user charge, list charge, trial tokens), by hand:
OTHER_EXPECTED = {
    "g01": (D("0.546"), D("0.546"), 0),  # usr_past gets no trial: Sonnet 0.42 x 1.30
    "g02": (D("0.001"), D("0.001"), 0),  # 0.00045 x 1.25 under the minimum
    "g03": (D("0"), D("0.020625"), 95000),  # usr_t95 (signed up 2026-11-01 07:30 UTC) in the trial
    "g04": (D("0"), D("0"), 0),  # failed
    "g05": (D("0"), D("0.001"), 1500),  # usr_new in the trial
    "g07": (D("0"), D("0.021"), 3000),  # the assistant's own 40%: 0.015 x 1.40, in the trial
    "g08": (D("0.090409090909"), D("0.117"), 5000),  # 0.117 x 17000 / 22000
    "g09": (D("0.117"), D("0.117"), 0),
    "g10": (D("0.001"), D("0.001"), 0),
    "g11": (D("0.001"), D("0.001"), 0),  # usr_ghost: no trial once trial_start_date is set
}


def _dbt(data_dir: Path, *args: str):
    """dbt in-process on the warehouse in `data_dir`, its target and logs there too (not the project's)."""
    previous = os.environ.get("AI_USAGE_DATA_DIR")
    os.environ["AI_USAGE_DATA_DIR"] = str(data_dir)
    try:
        return dbtRunner().invoke([
            *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
            "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs"), "--quiet",
        ])
    finally:
        if previous is None:
            del os.environ["AI_USAGE_DATA_DIR"]
        else:
            os.environ["AI_USAGE_DATA_DIR"] = previous


@pytest.fixture(scope="module")
def other_warehouse(built_warehouse: Path, tmp_path_factory) -> Path:
    """A copy of the standard warehouse (raw tables landed), rebuilt by dbt with OTHER_VARS (in a subprocess:
    dbt-duckdb keeps its connection open in-process)."""
    data_dir = tmp_path_factory.mktemp("pricing_knobs")
    shutil.copy(built_warehouse / "warehouse.duckdb", data_dir / "warehouse.duckdb")
    result = subprocess.run(
        [
            dbt_executable(), "build", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
            "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs"),
            "--vars", OTHER_VARS,
            "--select", "+ai_revenue_analytics", "+user_ai_usage_summary", "+pricing_scenario_comparison",
        ],
        env={**os.environ, "AI_USAGE_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return data_dir


def test_markup_policy_trial_start_date_and_timezone(other_warehouse: Path):
    with duckdb.connect(str(other_warehouse / "warehouse.duckdb"), read_only=True) as other:
        rows = other.execute(
            "select request_id, user_charge_usd, list_charge_usd, trial_tokens from ai_usage_analytics"
        ).fetchall()
        assert {row[0]: tuple(row[1:]) for row in rows} == OTHER_EXPECTED
        assert other.execute(
            "select date::varchar, requests, revenue_usd from ai_revenue_analytics order by date"
        ).fetchall() == [
            ("2026-11-20", 3, D("0.547")),  # g01, g02, g03 (before 11:00 UTC)
            ("2026-11-21", 5, D("0.207409090909")),  # g04 .. g09
            ("2026-11-22", 2, D("0.002")),  # g10, g11 (11:00 UTC and later on the 21st)
        ]
        assert other.execute(
            """
            select date::varchar, requests from user_ai_usage_summary
            where user_id = 'usr_past' order by date
            """
        ).fetchall() == [("2026-11-20", 2), ("2026-11-21", 1), ("2026-11-22", 1)]
        # `same` keeps every current knob (the per-provider and per-model markups too): no difference.
        # flat_20: 0.504 + 0.001 + 0.108 + 0.001 + 0.108 x 17000/22000 (0.083454545455) + 0.001.
        assert other.execute(
            """
            select scenario, markup_percentage, revenue_usd, revenue_diff_usd
            from pricing_scenario_comparison order by scenario_order
            """
        ).fetchall() == [
            ("same", D("25"), D("0.756409090909"), D("0")),
            ("flat_20", D("20"), D("0.698454545455"), D("-0.057954545454")),
        ]


def _validate(data_dir: Path, dbt_vars: str) -> str:
    """Run the knobs' validation with `dbt_vars`; return the error ('' when valid)."""
    result = _dbt(data_dir, "run-operation", "validate_vars", "--vars", dbt_vars)
    return "" if result.success else str(result.exception)


@pytest.mark.parametrize(
    ("dbt_vars", "message"),
    [
        ("{reporting_timezone: Mars/Olympus}", "'reporting_timezone' = Mars/Olympus is not a time zone name"),
        ("{provider_markup_percentage: {anthropic: -5}}",
         "'provider_markup_percentage.anthropic' = -5 is not a plain"),
        ("{model_markup_percentage: {\"openai/gpt-4o'; --\": 5}}",
         "has the key openai/gpt-4o'; --, which is not"),
        ("{trial_start_date: '2026-02-30'}", "'trial_start_date' = 2026-02-30 is not a date"),
        ("{pricing_scenarios: [{name: a}, {name: a}]}", "pricing_scenarios has the name 'a' twice"),
        ("{pricing_scenarios: [{name: x, markup: 30}]}", "pricing_scenarios[0] has the unknown key 'markup'"),
        ("{pricing_scenarios: [{name: x, minimum_charge_usd: 101}]}", "minimum_charge_usd' = 101 is outside"),
        ("{trial_start_date: 2026-11-01, reporting_timezone: Europe/Berlin, pricing_scenarios: []}", None),
        # `$` matches before a final newline: a key or name ending in one would pass and bill 25% instead
        ('{provider_markup_percentage: {"anthropic\\n": 30}}',
         "dbt var 'provider_markup_percentage' has the key \"anthropic\\n\", which is not a lower-case id like "
         "anthropic. Use the ids of model_catalog"),
        ('{model_markup_percentage: {"openai/gpt-4o\\n": 20}}',
         "dbt var 'model_markup_percentage' has the key \"openai/gpt-4o\\n\", which is not a lower-case id"),
        ('{pricing_scenarios: [{name: "x\\n", markup_percentage: 30}]}',
         "dbt var 'pricing_scenarios': pricing_scenarios[0] needs a name: a lower-case id like markup_30 "
         '(letters, digits, _; no spaces or newlines), got "x\\n"'),
        # the partition window reaches SQL only as a checked UTC date or date and time, start before end
        ('{partition_start: "2026-11-20", partition_end: "2026-11-21T00:00:00"}', None),
        ("{partition_start: 2026-11-20T00:00:00, partition_end: 2026-11-21}", None),  # YAML datetimes
        ("{partition_start: \"2026-11-20'; drop table x; --\", partition_end: 2026-11-21}",
         "dbt var 'partition_start' = \"2026-11-20'; drop table x; --\" is not a UTC date or date and time. "
         "Set it like 2026-11-20 or 2026-11-20T00:00:00"),
        ('{partition_start: "2026-11-20", partition_end: "2026-11-21 x"}',
         "dbt var 'partition_end' = \"2026-11-21 x\" is not a UTC date"),
        ('{partition_start: "2026-11-20T24:00:00", partition_end: "2026-11-21"}',
         "dbt var 'partition_start' = \"2026-11-20T24:00:00\" is not a UTC date"),
        ('{partition_start: "2026-11-21", partition_end: "2026-11-21T00:00:00"}',
         "dbt var 'partition_end' = 2026-11-21T00:00:00 is not after partition_start = 2026-11-21T00:00:00"),
        ('{partition_start: "2026-11-20"}', "dbt var 'partition_end' is missing while 'partition_start' is set"),
    ],
)
def test_bad_knobs_stop_the_build_before_any_sql(tmp_path: Path, dbt_vars: str, message: str | None):
    error = _validate(tmp_path, dbt_vars)
    assert error == "" if message is None else message in error, error
    if message is not None:
        assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.parametrize(
    ("dbt_vars", "sql"),
    [
        # a YAML datetime, a date with a stray space: both reach SQL as the checked YYYY-MM-DDTHH:MM:SS text
        ('{partition_start: 2026-11-20T06:00:00, partition_end: " 2026-11-21"}',
         "(created_at >= cast('2026-11-20T06:00:00' as timestamp) and created_at < cast('2026-11-21T00:00:00' as "
         "timestamp))"),
        ("{}", "false"),  # no window: a plain `dbt build` prices what is new
    ],
)
def test_the_partition_window_reaches_sql_only_as_checked_timestamps(tmp_path: Path, dbt_vars: str, sql: str):
    result = _dbt(tmp_path, "compile", "--inline", "{{ in_partition_window('created_at') }}", "--vars", dbt_vars)
    assert result.success, result.exception
    assert result.result.results[0].node.compiled_code == sql


def test_catalog_quality_gates_fail_on_a_bad_catalog(built_warehouse: Path, tmp_path: Path):
    """The gates on model_catalog, run against a copy whose catalog was spoiled on purpose: an overlap, a gap,
    a cache-read price above the input price, a negative price and a markup for an unknown model each fail."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        spoil = [
            "valid_to = '2024-09-01' where model = 'openai/gpt-4o' and valid_to is not null",  # a gap
            "valid_to = null where model = 'deepseek/deepseek-v3' and valid_to is not null",  # an overlap
            "cache_read_price_per_1m_usd = 1 where model = 'openai/gpt-4o-mini'",
            "output_price_per_1m_usd = -1 where model = 'xai/grok-2'",
        ]
        for change in spoil:
            con.execute(f"update model_catalog set {change}")
    # and a markup for a model the catalog does not have (a typo would otherwise apply to nothing)
    results = dbt_test(tmp_path, "model_catalog,test_type:data",
                       extra=("--vars", '{model_markup_percentage: {"openai/gpt4o": 20}}'))
    failed = sorted(r["unique_id"].split(".")[2] for r in results if r["status"] == "fail")
    assert failed == [
        "assert_markup_keys_name_catalog_models",
        "contiguous_validity_model_catalog_model__valid_from__valid_to",
        "model_catalog_row_checks",
    ]
    # the single-row checks and the cell's uniqueness are one test (row_checks): each failing row names its check
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        checks = con.execute(
            f"select distinct failed_check, model from ({compiled_test(tmp_path, 'model_catalog_row_checks')}) "
            "order by all").fetchall()
    assert checks == [
        ("cache_read_price_per_1m_usd_not_greater_than_input_price_per_1m_usd", "openai/gpt-4o-mini"),
        ("output_price_per_1m_usd_not_null_non_negative", "xai/grok-2"),
    ]


def test_row_checks_and_scoped_source_tests_fail_on_bad_rows(built_warehouse: Path, tmp_path: Path):
    """ai_usage_analytics' single-row checks and its key's uniqueness are one test (row_checks) that names each failed
    check; the source's checks on raw.gateway_requests (one row_checks test) read the rows landed since the last build
    and the older rows sharing their ids, so a landed row repeating an old id still fails `id_unique`."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        first, second, third = (row[0] for row in con.execute(
            "select request_id from ai_usage_analytics order by request_id limit 3").fetchall())
        con.execute("update ai_usage_analytics set user_charge_usd = -1 where request_id = ?", [first])
        con.execute("update ai_usage_analytics set route = 'elsewhere', markup_usd = null where request_id = ?",
                    [second])
        # a request written twice by the same run: both rows fail request_id_unique
        con.execute("insert into ai_usage_analytics select * from ai_usage_analytics where request_id = ?", [third])
        # an old request landed again later (the landing never does this): a duplicate id across two loads
        con.execute("insert into raw.gateway_requests select * replace (current_timestamp as loaded_at) "
                    "from raw.gateway_requests where id = ?", [first])
    results = dbt_test(tmp_path, "ai_usage_analytics,test_type:data",
                                "source:raw.gateway_requests,test_type:data")
    failed = {r["unique_id"].split(".")[2]: r["failures"] for r in results if r["status"] == "fail"}
    row_checks, source_checks = "ai_usage_analytics_row_checks", "raw_gateway_requests_row_checks"
    # user_charge_usd < 0 on one row; route and markup_usd on the other; the two rows of one id; the landed duplicate
    # id (its two rows: the old one and the one landed again)
    assert failed == {row_checks: 5, source_checks: 2}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        # scoped: the rows landed after the newest row int_requests_priced holds, and the rows sharing their ids
        assert "where loaded_at > " in compiled_test(tmp_path, source_checks)
        assert con.execute(f"select failed_check, id from ({compiled_test(tmp_path, source_checks)})").fetchall() == [
            ("id_unique", first), ("id_unique", first)]
        checks = con.execute(
            f"select failed_check, request_id from ({compiled_test(tmp_path, row_checks)}) order by all").fetchall()
    assert checks == [
        ("markup_usd_not_null", second),
        ("request_id_unique", third),
        ("request_id_unique", third),
        ("route_accepted_values", second),
        ("user_charge_usd_not_null_non_negative", first),
    ]


def test_the_users_export_checks_fail_on_a_repeated_user_id(built_warehouse: Path, tmp_path: Path):
    """raw.users' id is checked (unique, not null) by stg_raw__users_row_checks, on the view that renames the table row
    for row: a user id landed twice fails it, both rows named."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        user = con.execute("select min(id) from raw.users").fetchone()[0]
        con.execute("insert into raw.users select * from raw.users where id = ?", [user])
    results = dbt_test(tmp_path, "stg_raw__users,test_type:data")
    assert {r["unique_id"].split(".")[2]: r["failures"] for r in results if r["status"] == "fail"} == {
        "stg_raw__users_row_checks": 2}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert con.execute(
            f"select failed_check, user_id from ({compiled_test(tmp_path, 'stg_raw__users_row_checks')})"
        ).fetchall() == [("user_id_unique", user), ("user_id_unique", user)]


def test_the_request_sum_tests_fail_on_a_mart_that_does_not_add_up(built_warehouse: Path, tmp_path: Path):
    """The singular tests built by mart_equals_request_sums (macros/request_sums.sql: one aggregate over the requests
    and the mart's rows) fail on a group that is off by one token, one pico-dollar or one user, and show both sides."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        user, day, tokens = con.execute(
            "select user_id, date, trial_tokens from user_ai_usage_summary order by user_id, date limit 1").fetchone()
        con.execute("update user_ai_usage_summary set trial_tokens = trial_tokens + 1 where user_id = ? and date = ?",
                    [user, day])
        first_day, revenue = con.execute(
            "select date, revenue_usd from ai_revenue_analytics order by date limit 1").fetchone()
        con.execute("update ai_revenue_analytics set revenue_usd = revenue_usd + 0.000000000001 where date = ?",
                    [first_day])
        model, users = con.execute("select model, users from model_popularity order by model limit 1").fetchone()
        con.execute("update model_popularity set users = users + 1 where model = ?", [model])
    tests = ("assert_user_summary_equals_request_sum", "assert_daily_revenue_equals_request_sum",
             "assert_model_popularity_equals_request_sum")
    results = dbt_test(tmp_path, *tests)
    assert {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results
            if r["unique_id"].startswith("test.")} == {name: ("fail", 1) for name in tests}
    # one build wrote every row of the marts and of ai_usage_analytics (one updated_at): every group is compared,
    # without computing the groups the last run wrote (is_one_write, macros/test_scope.sql)
    assert all("touched" not in compiled_test(tmp_path, name) for name in tests)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert con.execute(f"select user_id, date, trial_tokens, trial_tokens_in_mart from "
                           f"({compiled_test(tmp_path, tests[0])})").fetchall() == [(user, day, tokens, tokens + 1)]
        assert con.execute(f"select date, revenue_usd, revenue_usd_in_mart from "
                           f"({compiled_test(tmp_path, tests[1])})").fetchall() == [
            (first_day, revenue, revenue + D("0.000000000001"))]
        assert con.execute(f"select model, users, users_in_mart from "
                           f"({compiled_test(tmp_path, tests[2])})").fetchall() == [(model, users, users + 1)]


def test_the_request_sum_tests_compare_the_groups_an_increment_wrote(built_warehouse: Path, tmp_path: Path):
    """After an increment (rows of several writes), assert_user_summary_equals_request_sum and
    assert_daily_revenue_equals_request_sum compare the groups the last write touched: a group of the last write that
    is off by one token fails; a group written earlier (checked by the build that wrote it) is not read again."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        # the last write: the requests of one user and UTC day; every other row as written a day earlier
        user, day = con.execute("select user_id, cast(created_at as date) from ai_usage_analytics "
                                "order by created_at desc, request_id limit 1").fetchone()
        last = "user_id = ? and cast(created_at as date) = ?"
        con.execute(f"update ai_usage_analytics set updated_at = updated_at - interval 1 day where not ({last})",
                    [user, day])
        con.execute("update intermediate.int_requests_trial_applied set priced_at = priced_at - interval 1 day "
                    f"where not ({last})", [user, day])
        con.execute("update user_ai_usage_summary set updated_at = updated_at - interval 1 day "
                    "where not (user_id = ? and date = ?)", [user, day])
        con.execute("update ai_revenue_analytics set updated_at = updated_at - interval 1 day where date <> ?", [day])
        tokens = con.execute("select trial_tokens from user_ai_usage_summary where user_id = ? and date = ?",
                             [user, day]).fetchone()[0]
        con.execute("update user_ai_usage_summary set trial_tokens = trial_tokens + 1", [])  # every group off by one
        revenue = con.execute("select revenue_usd from ai_revenue_analytics where date = ?", [day]).fetchone()[0]
        con.execute("update ai_revenue_analytics set revenue_usd = revenue_usd + 0.000000000001")
        groups = con.execute("select count(*) from user_ai_usage_summary").fetchone()[0]
        days = con.execute("select count(*) from ai_revenue_analytics").fetchone()[0]
    assert groups > 1 and days > 1  # groups written earlier are off too, and not reported
    tests = ("assert_user_summary_equals_request_sum", "assert_daily_revenue_equals_request_sum")
    results = dbt_test(tmp_path, *tests)
    assert {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results
            if r["unique_id"].startswith("test.")} == {name: ("fail", 1) for name in tests}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert "semi join touched" in compiled_test(tmp_path, tests[0])
        assert con.execute(f"select user_id, date, trial_tokens, trial_tokens_in_mart from "
                           f"({compiled_test(tmp_path, tests[0])})").fetchall() == [(user, day, tokens, tokens + 1)]
        assert con.execute(f"select date, revenue_usd, revenue_usd_in_mart from "
                           f"({compiled_test(tmp_path, tests[1])})").fetchall() == [
            (day, revenue, revenue + D("0.000000000001"))]


def test_row_checks_on_views_computed_once_still_fail_on_bad_rows(built_warehouse: Path, tmp_path: Path):
    """row_checks with `materialize` (the view monthly_revenue_by_model, computed once for every check) fail as the
    inlined ones do: a month and model listed twice fails the unique combination (both rows), a month and model
    whose list charges fall below the provider cost fails markup_before_trial_non_negative."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        request, model = con.execute("select request_id, model from ai_usage_analytics where is_billed "
                                     "order by request_id limit 1").fetchone()
        # a group of another model listed twice
        month, twice = con.execute("select period_month, model from monthly_revenue_by_model where model <> ? "
                                   "order by all limit 1", [model]).fetchone()
        con.execute("alter view monthly_revenue_by_model rename to monthly_revenue_by_model_as_built")
        con.execute("create view monthly_revenue_by_model as select * from monthly_revenue_by_model_as_built "
                    "union all select * from monthly_revenue_by_model_as_built "
                    f"where period_month = '{month}' and model = '{twice}'")
        # $1 off the list charge and so off the trial credit (profit stays markup less trial credit): the month's
        # markup before the trial, cents in the fixture, turns negative
        con.execute("update ai_usage_analytics set list_charge_usd = list_charge_usd - 1, "
                    "trial_credit_usd = trial_credit_usd - 1 where request_id = ?", [request])
    test = "monthly_revenue_by_model_row_checks"
    results = dbt_test(tmp_path, test)
    assert {r["unique_id"].split(".")[2]: r["failures"] for r in results if r["status"] == "fail"} == {test: 3}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        assert "as materialized" in compiled_test(tmp_path, test)
        assert con.execute(f"select failed_check, model from ({compiled_test(tmp_path, test)}) "
                           "order by all").fetchall() == [
            ("markup_before_trial_non_negative", model),
            ("period_month_provider_model_unique_combination", twice),
            ("period_month_provider_model_unique_combination", twice)]
