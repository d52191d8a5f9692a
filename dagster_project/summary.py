"""`python -m dagster_project.summary`: the few numbers a newcomer checks after `make run`."""

from __future__ import annotations

import sys

import duckdb

from dagster_project.resources import default_data_dir
from ingest.warehouse import connect


def summary_lines(warehouse_path) -> list[str]:
    data_dir = warehouse_path.parent
    with connect(warehouse_path, read_only=True) as con:
        requests, tokens, revenue, cost, profit, credit = con.execute(
            """
            select count(*), coalesce(sum(total_tokens), 0), coalesce(sum(user_charge_usd), 0),
                   coalesce(sum(provider_cost_usd), 0), coalesce(sum(markup_usd), 0),
                   coalesce(sum(trial_credit_usd), 0)
            from ai_usage_analytics
            """
        ).fetchone()
        first, last = con.execute("select min(date), max(date) from ai_revenue_analytics").fetchone()
        top = con.execute("select model, requests, user_charge_usd from model_popularity limit 5").fetchall()
        quarantined = con.execute("select count(*) from raw.quarantine").fetchone()[0]
        unpriced = con.execute("select count(*) from unpriced_requests").fetchone()[0]
    lines = [
        f"warehouse: {warehouse_path}",
        f"requests:  {requests:,} from {first} to {last} ({tokens:,} tokens)",
        f"revenue:   ${revenue:,.2f}   provider cost: ${cost:,.2f}   profit: ${profit:,.2f}"
        f"   trial credit given: ${credit:,.2f}",
        "top models by requests:",
        *[f"  {model:<40} {count:>8,} requests  ${charge:,.2f}" for model, count, charge in top],
    ]
    for label, path in (("spending report", data_dir / "reports" / "index.html"),
                        ("finance exports", data_dir / "exports")):
        if path.exists():
            lines.append(f"{label + ':':<17}{path}")
    if quarantined:
        lines.append(f"quarantined lines: {quarantined:,} (see raw.quarantine for reason, file and line)")
    if unpriced:
        lines.append(f"held back, model not in the catalog: {unpriced:,} requests (see unpriced_requests)")
    return lines


def main() -> int:
    path = default_data_dir() / "warehouse.duckdb"
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
