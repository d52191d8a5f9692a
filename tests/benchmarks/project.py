"""The project's side of the benchmark's check: the same totals as the floor's, read from the marts that people
read (dbt_project/docs/warehouse-tables.md) and the landing counts from raw.load_log."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb


def usd(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):.12f}"


def project_totals(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        row = con.execute("""
            select count(*), count(*) filter (where is_billed), sum(total_tokens), sum(trial_tokens),
                   sum(provider_cost_usd), sum(user_charge_usd), sum(markup_usd), sum(trial_credit_usd)
            from main.ai_usage_analytics
        """).fetchone()
        revenue = con.execute("""
            select sum(revenue_usd), sum(provider_cost_usd), sum(profit_usd), sum(trial_credit_usd), sum(requests),
                   sum(billed_requests), sum(total_tokens)
            from main.ai_revenue_analytics
        """).fetchone()
        user_daily = con.execute(
            "select sum(user_charge_usd), sum(trial_tokens) from main.user_ai_usage_summary").fetchone()
        days = con.execute(
            "select date, revenue_usd, provider_cost_usd, requests from main.ai_revenue_analytics order by date"
        ).fetchall()
        counts = con.execute("""
            select sum(lines_read), sum(accepted), sum(duplicates), sum(quarantined)
            from raw.load_log where source_kind = 'gateway_file'
        """).fetchone()
    finally:
        con.close()
    totals = {
        "requests": int(row[0]), "billed_requests": int(row[1]), "total_tokens": int(row[2] or 0),
        "trial_tokens": int(row[3] or 0), "provider_cost_usd": usd(row[4]), "revenue_usd": usd(row[5]),
        "profit_usd": usd(row[6]), "trial_credit_usd": usd(row[7]),
        "user_daily_charge_usd": usd(user_daily[0]), "user_daily_trial_tokens": int(user_daily[1] or 0),
        "daily": {str(d): [usd(rev), usd(cost), int(n)] for d, rev, cost, n in days},
        "landing": dict(zip(("lines_read", "accepted", "duplicates", "quarantined"), map(int, counts), strict=True)),
    }
    # the daily mart must add up to the request mart: compare it as its own figures too
    totals["daily_mart"] = {"revenue_usd": usd(revenue[0]), "provider_cost_usd": usd(revenue[1]),
                            "profit_usd": usd(revenue[2]), "trial_credit_usd": usd(revenue[3]),
                            "requests": int(revenue[4] or 0), "billed_requests": int(revenue[5] or 0),
                            "total_tokens": int(revenue[6] or 0)}
    return totals


def with_daily_mart(totals: dict) -> dict:
    """A script's totals with the ``daily_mart`` figures the project reports (its per-day sums)."""
    daily = totals["daily"]
    out = dict(totals)
    out["daily_mart"] = {
        "revenue_usd": usd(sum((Decimal(v[0]) for v in daily.values()), Decimal(0))),
        "provider_cost_usd": usd(sum((Decimal(v[1]) for v in daily.values()), Decimal(0))),
        "profit_usd": totals["profit_usd"], "trial_credit_usd": totals["trial_credit_usd"],
        "requests": totals["requests"], "billed_requests": totals["billed_requests"],
        "total_tokens": totals["total_tokens"],
    }
    return out


def differences(reference: dict, other: dict, prefix: str = "") -> list[str]:
    """Every key whose value differs, as 'key: reference != other' (nested dicts flattened)."""
    out = []
    for key in sorted(set(reference) | set(other)):
        a, b = reference.get(key), other.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a} != {b}")
    return out
