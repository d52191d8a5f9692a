"""What the business reads: finance exports, the spending report and billing-alert delivery.

Thin assets over `dagster_project/publish/` (plain Python). They read the marts, so they depend on the dbt marts'
asset keys. They only read the warehouse (except the alert delivery, which records what it sent), but all of them
sit in the DuckDB writer pool: a reader opening the file while dbt rewrites it would clash.
"""

from collections import defaultdict
from decimal import Decimal

import dagster as dg

from dagster_project.publish.exports import write_exports
from dagster_project.resources import DUCKDB_WRITER_POOL, WarehouseResource

GROUP = "publish"


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows] or ["| " + " | ".join(["(none)"] * len(header)) + " |"]
    return "\n".join(lines)


@dg.asset(
    deps=[dg.AssetKey("ai_revenue_analytics"), dg.AssetKey("ai_usage_analytics"), dg.AssetKey("users")],
    description=(
        "Finance exports in <data dir>/exports/: daily revenue, monthly revenue by provider and model, per-user "
        "monthly statements and their request lines; Parquet (decimal128(38,12)) and CSV (exact decimals), one "
        "file per month, each rewritten atomically."
    ),
    group_name=GROUP,
    kinds={"python", "parquet", "csv"},
    pool=DUCKDB_WRITER_POOL,
)
def finance_exports(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    exports_dir = warehouse.root / "exports"
    with warehouse.connect(read_only=True) as con:
        written = write_exports(con, exports_dir)
        monthly = con.execute(
            """
            select strftime(created_at, '%Y-%m') as month, count(*), sum(user_charge_usd), sum(provider_cost_usd),
                   sum(markup_usd)
            from ai_usage_analytics group by all order by month
            """
        ).fetchall()
    files_by_table: dict[str, int] = defaultdict(int)
    for export in written:
        files_by_table[export.table] += 2
    context.log.info(f"wrote {len(written) * 2} export files to {exports_dir}")
    return dg.MaterializeResult(
        metadata={
            "exports_dir": dg.MetadataValue.path(str(exports_dir)),
            "files": len(written) * 2,
            "files_by_table": dg.MetadataValue.json(dict(files_by_table)),
            "months": dg.MetadataValue.md(
                _markdown_table(
                    ["month", "requests", "revenue USD", "provider cost USD", "profit USD"],
                    [[m, f"{n:,}", _money(r), _money(c), _money(p)] for m, n, r, c, p in monthly],
                )
            ),
        }
    )
