"""`python -m dagster_project.summary` (what `make run` prints) reads the mart run_summary: its figures are the
marts' to the cent, and it says what is kept aside."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from dagster_project.summary import summary_lines


def test_the_summary_reads_run_summary_and_agrees_with_the_marts(built_warehouse: Path, con):
    lines = summary_lines(built_warehouse / "warehouse.duckdb")
    requests, revenue, cost, profit, credit = con.execute(
        "select count(*), sum(user_charge_usd), sum(provider_cost_usd), sum(markup_usd), sum(trial_credit_usd) "
        "from ai_usage_analytics"
    ).fetchone()
    summary = con.execute(
        "select requests, revenue_usd, provider_cost_usd, profit_usd, trial_credit_usd from run_summary"
    ).fetchone()
    assert summary == (requests, revenue, cost, profit, credit)
    assert (revenue, profit) == (D("0.201431818182"), D("-0.431418181818"))
    assert lines[2] == (f"revenue:   ${revenue:,.2f}   provider cost: ${cost:,.2f}   profit: ${profit:,.2f}"
                        f"   trial credit given: ${credit:,.2f}")
    assert lines[1].startswith(f"requests:  {requests:,} from 2026-11-20 to 2026-11-21 (")
    assert lines[3] == "top models by requests:"
    top = con.execute("select model from model_popularity order by popularity_rank limit 5").fetchall()
    assert [line.split()[0] for line in lines[4:4 + len(top)]] == [model for (model,) in top]
    quarantined = con.execute("select count(*) from raw.quarantine").fetchone()[0]
    assert quarantined > 0
    assert f"quarantined lines: {quarantined:,} (see raw.quarantine for reason, file and line)" in lines


def test_the_summary_points_to_the_published_copy_when_there_is_one(built_warehouse: Path, tmp_path: Path):
    import shutil

    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    assert not [line for line in summary_lines(tmp_path / "warehouse.duckdb") if line.startswith("open for SQL")]
    (tmp_path / "published").mkdir()
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "published" / "warehouse.duckdb")
    lines = summary_lines(tmp_path / "warehouse.duckdb")
    assert f"open for SQL:    {tmp_path / 'published' / 'warehouse.duckdb'}" in lines
