"""`python -m dagster_project.summary`: the few numbers a newcomer checks after `make run`."""

from __future__ import annotations

import sys

import duckdb

from dagster_project.publish.published import published_path
from ingest import settings
from ingest.warehouse import connect


def summary_lines(warehouse_path) -> list[str]:
    """The summary's lines: the figures of the mart run_summary (dbt_project/models/marts/reporting) and the top
    five of model_popularity."""
    data_dir = warehouse_path.parent
    with connect(warehouse_path, read_only=True) as con:
        requests, tokens, revenue, cost, profit, credit, first, last, quarantined, unpriced = con.execute(
            """
            select requests, total_tokens, revenue_usd, provider_cost_usd, profit_usd, trial_credit_usd,
                   first_date, last_date, quarantined_lines, unpriced_requests
            from run_summary
            """
        ).fetchone()
        top = con.execute(
            "select model, requests, user_charge_usd from model_popularity order by popularity_rank limit 5"
        ).fetchall()
    lines = [
        f"warehouse: {warehouse_path}",
        f"requests:  {requests:,} from {first} to {last} ({tokens:,} tokens)",
        f"revenue:   ${revenue:,.2f}   provider cost: ${cost:,.2f}   profit: ${profit:,.2f}"
        f"   trial credit given: ${credit:,.2f}",
        "top models by requests:",
        *[f"  {model:<40} {count:>8,} requests  ${charge:,.2f}" for model, count, charge in top],
    ]
    for label, path in (("open for SQL", published_path(data_dir)),
                        ("spending report", settings.reports_dir(data_dir) / "index.html"),
                        ("finance exports", settings.exports_dir(data_dir)),
                        ("user page links", data_dir / "user_pages.csv")):
        if path.exists():
            lines.append(f"{label + ':':<17}{path}")
    if quarantined:
        lines.append(f"quarantined lines: {quarantined:,} (see raw.quarantine for reason, file and line)")
    if unpriced:
        lines.append(f"held back, model not in the catalog: {unpriced:,} requests (see unpriced_requests)")
    return lines


def main() -> int:
    path = settings.warehouse_path(settings.default_data_dir())
    if not path.exists():
        print(f"no warehouse at {path}: run `make run` first", file=sys.stderr)
        return 1
    try:
        print("\n".join(summary_lines(path)))
    except duckdb.CatalogException as error:
        print(f"the warehouse at {path} lacks a mart ({error}): materialize everything with `make run`",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
