"""Optional: compare our model catalog with a public price list and list what a person should review.

Calls ingest.price_list (no logic lives here) and writes table `catalog_price_changes` in the warehouse's
`main` schema. It never changes a price: prices change only by editing dbt_project/seeds/model_prices.csv.

Off unless configured: the price list comes from the `price_list` resource's `source` (run config
`resources.price_list.config.source`), else $AI_USAGE_PRICE_LIST_URL, read at run time; an http(s) URL or a
local file path. With neither, the asset succeeds, logs that it was skipped, and downloads nothing (so
`make run` works offline). The URL is logged without its query string or credentials.
"""

import os
from datetime import UTC, datetime

import dagster as dg

from dagster_project.metadata import markdown_table
from dagster_project.resources import DUCKDB_WRITER_POOL, WarehouseResource
from ingest.price_list import (
    CHANGE_COLUMNS,
    PRICE_LIST_ENV,
    PriceListError,
    compare_catalog,
    fetch_price_list,
    parse_price_list,
    redact,
)

SKIPPED = (
    f"catalog price check skipped: no price list configured (set {PRICE_LIST_ENV} to a URL or a file path)"
)
TABLE = "main.catalog_price_changes"


class PriceListResource(dg.ConfigurableResource):
    """Where the public price list (LiteLLM's model_prices_and_context_window.json format) comes from.

    `source`: an http(s) URL or a local file path; empty: $AI_USAGE_PRICE_LIST_URL at run time; empty too:
    skip.
    """

    source: str = ""
    timeout_seconds: float = 30.0

    def configured_source(self) -> str:
        return self.source.strip() or os.environ.get(PRICE_LIST_ENV, "").strip()


def _create_table_sql() -> str:
    columns = []
    for name in CHANGE_COLUMNS:
        kind = "decimal(38, 12)" if name.endswith("_usd") else "varchar"
        columns.append(f"{name} {kind}")
    columns += ["price_list_source varchar", "checked_at timestamp"]
    return f"create or replace table {TABLE} ({', '.join(columns)})"


@dg.asset(
    key=["catalog_price_changes"],
    description=(
        "Models whose public list price differs from model_catalog, models we bill that the list lacks, and "
        "new models of our providers in the list. Never changes a price. Skipped unless "
        "AI_USAGE_PRICE_LIST_URL (or resources.price_list.config.source) is set."
    ),
    group_name="catalog",
    kinds={"python", "duckdb"},
    deps=[dg.AssetKey(["model_catalog"]), dg.AssetKey(["seeds", "price_list_aliases"])],
    pool=DUCKDB_WRITER_POOL,
    # Bound here so that every materialization of the asset list (the tests' conftest included) has it.
    resource_defs={"price_list": PriceListResource()},
)
def catalog_price_changes(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, price_list: PriceListResource
) -> dg.MaterializeResult:
    source = price_list.configured_source()
    if not source:
        context.log.info(SKIPPED)
        return dg.MaterializeResult(metadata={"skipped": True, "reason": SKIPPED})
    shown = redact(source)
    context.log.info(f"reading the price list from {shown}")
    try:
        prices = parse_price_list(fetch_price_list(source, timeout=price_list.timeout_seconds))
    except PriceListError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None

    with warehouse.connect() as con:
        catalog_rows = con.execute(
            """
            select model, provider, input_price_per_1m_usd, output_price_per_1m_usd,
                   cache_read_price_per_1m_usd, cache_write_price_per_1m_usd
            from main.model_catalog
            where valid_from <= current_date and (valid_to is null or valid_to > current_date)
            order by model
            """
        ).fetchall()
        catalog = [
            dict(zip(("model", "provider", "input_price_per_1m_usd", "output_price_per_1m_usd",
                      "cache_read_price_per_1m_usd", "cache_write_price_per_1m_usd"), row, strict=True))
            for row in catalog_rows
        ]
        aliases = dict(con.execute("select model, list_model from seeds.price_list_aliases").fetchall())
        changes = compare_catalog(catalog, prices, aliases)
        checked_at = datetime.now(UTC).replace(tzinfo=None)
        con.execute("begin")
        con.execute(_create_table_sql())
        if changes:
            placeholders = ", ".join("?" for _ in range(len(CHANGE_COLUMNS) + 2))
            con.executemany(
                f"insert into {TABLE} values ({placeholders})",
                [[row[name] for name in CHANGE_COLUMNS] + [shown, checked_at] for row in changes],
            )
        con.execute("commit")

    counts = {kind: sum(1 for row in changes if row["change_type"] == kind)
              for kind in ("price_differs", "missing_from_list", "new_in_list")}
    context.log.info(
        f"{len(prices)} list models; {counts['price_differs']} prices differ, "
        f"{counts['missing_from_list']} of ours not in the list, {counts['new_in_list']} new in the list"
    )
    preview = markdown_table(
        ("model", "list model", "differing"),
        [(row["model"], row["list_model"], row["differing_prices"])
         for row in changes if row["change_type"] == "price_differs"],
    )
    return dg.MaterializeResult(
        metadata={
            "price_list": shown,
            "list_models": len(prices),
            **counts,
            "prices_that_differ": dg.MetadataValue.md(preview),
        }
    )
