"""Finance exports: the revenue tables as Parquet and CSV, one file per month, under `<data dir>/exports/`.

    exports/daily_revenue/<YYYY-MM>.{parquet,csv}             ai_revenue_analytics, one row per day
    exports/monthly_revenue_by_model/<YYYY-MM>.{parquet,csv}  one row per provider and model in the month
    exports/user_statements/<YYYY-MM>.{parquet,csv}           one row per user in the month: the statement total
    exports/user_statement_lines/<YYYY-MM>.{parquet,csv}      the requests each statement is the sum of

Money stays exact: DECIMAL(38,12) in the warehouse, decimal128(38, 12) in Parquet, and the decimal written out in
full (12 places, no float, no exponent) in CSV. Every file is rewritten atomically on each run. Months are UTC
calendar months of the request's created_at (daily_revenue: of the mart's `date`).

CSV injection (OWASP): a spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a
formula (`=HYPERLINK(...)`, `@SUM(...)`), and user ids and e-mails are whatever users typed. In CSV, every text value
(ids, e-mails, plans, providers, models) that starts with one of those gets a leading single quote `'`; numbers
(money, counts), booleans and dates are written as they are, so `-0.4514` stays a number and sums stay exact. Parquet
keeps every value as it is (it holds types, not formulas).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dagster_project.publish.files import write_atomic, write_text_atomic

MONEY = pa.decimal128(38, 12)
# A text cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# name -> SQL over the marts; every query has a `month` column (YYYY-MM) that picks the file and is then dropped.
EXPORT_QUERIES: dict[str, str] = {
    "daily_revenue": """
        select strftime(date, '%Y-%m') as month, date, requests, billed_requests, failed_requests, total_tokens,
               provider_cost_usd, revenue_usd, profit_usd, trial_credit_usd, active_users
        from ai_revenue_analytics
        order by date
    """,
    "monthly_revenue_by_model": """
        select strftime(created_at, '%Y-%m') as month, provider, model,
               count(*) as requests,
               count(*) filter (where is_billed) as billed_requests,
               cast(sum(total_tokens) as bigint) as total_tokens,
               cast(sum(provider_cost_usd) as decimal(38, 12)) as provider_cost_usd,
               cast(sum(user_charge_usd) as decimal(38, 12)) as revenue_usd,
               cast(sum(markup_usd) as decimal(38, 12)) as profit_usd,
               cast(sum(trial_credit_usd) as decimal(38, 12)) as trial_credit_usd
        from ai_usage_analytics
        group by all
        order by month, provider, model
    """,
    "user_statements": """
        select strftime(a.created_at, '%Y-%m') as month, a.user_id, u.email, u.plan,
               count(*) as requests,
               count(*) filter (where a.is_billed) as billed_requests,
               cast(sum(a.total_tokens) as bigint) as total_tokens,
               cast(sum(a.trial_tokens) as bigint) as trial_tokens,
               cast(sum(a.chargeable_tokens) as bigint) as chargeable_tokens,
               cast(sum(a.list_charge_usd) as decimal(38, 12)) as list_charge_usd,
               cast(sum(a.trial_credit_usd) as decimal(38, 12)) as trial_credit_usd,
               cast(sum(a.user_charge_usd) as decimal(38, 12)) as amount_due_usd
        from ai_usage_analytics as a
        left join users as u on a.user_id = u.id
        group by all
        order by month, a.user_id
    """,
    "user_statement_lines": """
        select strftime(created_at, '%Y-%m') as month, user_id, request_id, created_at, model, status_code,
               is_billed, total_tokens, trial_tokens, chargeable_tokens, list_charge_usd, trial_credit_usd,
               user_charge_usd
        from ai_usage_analytics
        order by month, user_id, created_at, request_id
    """,
}


@dataclass(frozen=True)
class ExportFile:
    table: str
    month: str
    rows: int
    parquet: Path
    csv: Path


def neutralise_formula(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet runs: a leading ``'`` when it starts with a formula trigger."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):  # text columns only: a Decimal such as -1.25 is a number and is written as one
        return neutralise_formula(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # every digit, no exponent
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _csv_cell(text: str) -> str:
    """RFC 4180 quoting. Not the csv module's: with the line terminator "\n" it leaves a lone "\r" unquoted, and a
    reader then cuts the row there."""
    return '"' + text.replace('"', '""') + '"' if any(char in text for char in ',"\r\n') else text


def to_csv_text(table: pa.Table) -> str:
    """CSV with a header; decimals written out exactly, timestamps and dates ISO 8601, empty for null, text that a
    spreadsheet would run as a formula prefixed with ``'`` (see the module docstring)."""
    lines = [",".join(_csv_cell(name) for name in table.column_names)]
    for row in table.to_pylist():
        lines.append(",".join(_csv_cell(_csv_value(value)) for value in row.values()))
    return "\n".join(lines) + "\n"


def _with_exact_money(table: pa.Table) -> pa.Table:
    """Money columns (`*_usd`) as decimal128(38, 12), whatever the query returned."""
    fields = [
        pa.field(f.name, MONEY) if f.name.endswith("_usd") else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def write_exports(con: duckdb.DuckDBPyConnection, exports_dir: Path) -> list[ExportFile]:
    """Write every export table, one Parquet and one CSV file per month; return what was written."""
    written: list[ExportFile] = []
    for name, query in EXPORT_QUERIES.items():
        table = _with_exact_money(con.sql(query).to_arrow_table())
        months = sorted(set(table.column("month").to_pylist()))
        for month in months:
            part = table.filter(pc.equal(table.column("month"), month)).drop_columns(["month"])
            folder = exports_dir / name
            parquet_path = write_atomic(folder / f"{month}.parquet", lambda tmp, t=part: pq.write_table(t, tmp))
            csv_path = write_text_atomic(folder / f"{month}.csv", to_csv_text(part))
            written.append(ExportFile(name, month, part.num_rows, parquet_path, csv_path))
    return written
