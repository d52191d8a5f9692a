"""Revenue projections (dbt models in models/marts/planning), read from the session's built warehouse.

The guide's scenarios at a 25% markup: profit is 20% of revenue. The observed projections scale the fixture's two
days (5 active users, 9 billed messages, revenue 0.201431818182, cost 0.63285, trial credit 0.591943181818) to the
scenarios' users: per active user per day that is revenue / (5 x 2).
"""

from __future__ import annotations

import shutil
from decimal import Decimal as D

import duckdb

from tests.conftest import copy_dbt_project, run_dbt


def test_guide_scenarios_take_profit_as_20_percent_of_revenue(con):
    rows = con.execute(
        """
        select scenario, active_users, messages_per_day, avg_charge_per_message_usd, daily_revenue_usd,
               monthly_revenue_usd, monthly_provider_cost_usd, monthly_profit_usd
        from revenue_projections order by active_users
        """
    ).fetchall()
    assert rows == [
        ("guide_100_users", 100, 1000, D("0.002"), D("2"), D("60"), D("48"), D("12")),
        ("guide_1000_users", 1000, 10000, D("0.002"), D("20"), D("600"), D("480"), D("120")),
        ("guide_10000_users", 10000, 100000, D("0.002"), D("200"), D("6000"), D("4800"), D("1200")),
    ]


def test_observed_projection_scales_the_window_exactly(con):
    rows = con.execute(
        """
        select scenario, window_end_date::varchar, observed_days, observed_active_users, observed_messages,
               charge_per_message_usd, cost_per_message_usd, top_model, daily_revenue_usd, monthly_revenue_usd,
               monthly_provider_cost_usd, monthly_profit_usd, monthly_trial_credit_usd
        from revenue_projections_observed order by active_users
        """
    ).fetchall()
    # 0.201431818182 / 9 = 0.0223813131313... ; 0.63285 / 9 = 0.0703166666...67
    common = ("2026-11-21", 2, 5, 9, D("0.022381313131"), D("0.070316666667"), "openai/gpt-4o-mini")
    assert rows == [
        ("guide_100_users", *common, D("2.01431818182"), D("60.4295454546"), D("189.855"), D("-129.4254545454"),
         D("177.5829545454")),
        ("guide_1000_users", *common, D("20.1431818182"), D("604.295454546"), D("1898.55"), D("-1294.254545454"),
         D("1775.829545454")),
        ("guide_10000_users", *common, D("201.431818182"), D("6042.95454546"), D("18985.5"), D("-12942.54545454"),
         D("17758.29545454")),
    ]


def test_observed_mix_and_trial_effects(con):
    mix, trial_pct, minimum_pct = con.execute(
        """
        select model_mix, trial_covered_percent_of_messages, minimum_charge_percent_of_messages
        from revenue_projections_observed where scenario = 'guide_100_users'
        """
    ).fetchone()
    assert mix == (
        "openai/gpt-4o-mini 55.6% of messages; anthropic/claude-3.5-sonnet 33.3% of messages; "
        "azure/crowe-logic-assistant 11.1% of messages"
    )
    # covered by the trial: g01 g03 g05 g07 g11 (5 of 9); charged the minimum: g02 g10 (2 of 9)
    assert (trial_pct, minimum_pct) == (D("55.5556"), D("22.2222"))


def test_projection_money_columns_are_exact_decimals(con):
    kinds = con.execute(
        """
        select distinct data_type from information_schema.columns
        where table_name in ('revenue_projections', 'revenue_projections_observed')
            and column_name like '%\\_usd' escape '\\'
        """
    ).fetchall()
    assert kinds == [("DECIMAL(38,12)",)]


def test_a_window_shorter_than_the_data_reads_its_own_days(built_warehouse, tmp_path):
    """projection_window_days 1 on the fixture's two days: the window is 2026-11-21 alone (its first day and last
    day read when the model compiles; the scan starts at the window), with that day's billed requests only."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(built_warehouse / "warehouse.duckdb", data_dir / "warehouse.duckdb")
    project = copy_dbt_project(tmp_path)
    run_dbt(project, data_dir, "run", "--select", "revenue_projections_observed",
            "--vars", '{"projection_window_days": 1}')
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "select window_start_date::varchar, window_end_date::varchar, observed_days, observed_active_users,"
            " observed_messages, model_mix from revenue_projections_observed order by active_users").fetchall()
        day = connection.execute(
            "select count(distinct user_id), count(*) from ai_usage_analytics"
            " where is_billed and created_at >= '2026-11-21' and created_at < '2026-11-22'").fetchone()
    assert day[1] < 9  # fewer than the two days' 9 billed messages
    assert {row[:5] for row in rows} == {("2026-11-21", "2026-11-21", 1, day[0], day[1])}
    assert len(rows) == 3
