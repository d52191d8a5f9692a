"""Catalog review: what a person should look at, in table `ops.catalog_price_changes`.

Always: the committed catalog against what the installed genai-prices and the overrides generate (offline, the
package's bundled data; ingest.catalog.review_rows): empty while the pinned package is installed and the seeds are
as generated; after a package upgrade, every added, removed or re-priced row with what to do (`make catalog`).

Optionally a second source: a public price list in LiteLLM's format (ingest.price_list): from the `price_list`
resource's `source` (run config `resources.price_list.config.source`), else $AI_USAGE_PRICE_LIST_URL, read at run
time; an http(s) URL or a local file path. Without either, that part is skipped and nothing is downloaded (so
`make run` stays offline). The URL is logged without its query string or credentials.
It never changes a price: prices change only through `make catalog` (and the overrides it merges).
"""

from datetime import UTC, date, datetime

import dagster as dg

from dagster_project.metadata import markdown_table
from dagster_project.resources import DUCKDB_WRITER_POOL, PriceListResource, WarehouseResource
from ingest.catalog import SOURCE_PACKAGE, review_rows, source_version
from ingest.price_list import (
    CHANGE_COLUMNS,
    PRICE_LIST_ENV,
    PriceListError,
    compare_catalog,
    fetch_price_list,
    parse_price_list,
    read_aliases,
    redact,
)

SKIPPED = (
    f"public price list check skipped: no price list configured (set {PRICE_LIST_ENV} to a URL or a file path)"
)
# What a person should do, per change type of the public price list.
LIST_ACTIONS = {
    "price_differs": "check the provider's price page: if the list is right and genai-prices is not, add an override "
                     "(dbt_project/seeds/model_price_overrides.csv) with the reason and run `make catalog`",
    "missing_from_list": "nothing to do if the model is priced by genai-prices; if the list names it differently, "
                         "add a row to dbt_project/seeds/price_list_aliases.csv",
    "new_in_list": "nothing to do unless the platform routes this model: upgrading genai-prices and `make catalog` "
                   "adds new models",
}
# An operational table (the asset rewrites it; dbt does not build it): declared as the dbt source
# ops.catalog_price_changes. Warehouses of before it moved have it in `main`: the next run drops that one (the table
# is rewritten whole on every run, so nothing is lost).
TABLE = "ops.catalog_price_changes"
LEGACY_TABLE = "main.catalog_price_changes"


def _create_table_sql() -> str:
    columns = []
    for name in CHANGE_COLUMNS:
        kind = "decimal(38, 12)" if name.endswith("_usd") else "varchar"
        columns.append(f"{name} {kind}")
    columns += ["action varchar", "price_list_source varchar", "checked_at timestamp"]
    return f"create schema if not exists ops; create or replace table {TABLE} ({', '.join(columns)})"


@dg.asset(
    key=["catalog_price_changes"],
    description=(
        "What to review in the catalog: rows where the committed catalog differs from what the installed "
        "genai-prices generates (always, offline), and, when AI_USAGE_PRICE_LIST_URL (or "
        "resources.price_list.config.source) is set, models whose public list price differs from model_catalog, "
        "models we price that the list lacks, and new models of our providers in the list. Never changes a price."
    ),
    group_name="catalog",
    kinds={"python", "duckdb"},
    deps=[dg.AssetKey(["model_catalog"]), dg.AssetKey(["seeds", "price_list_aliases"])],
    pool=DUCKDB_WRITER_POOL,
)
def catalog_price_changes(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, price_list: PriceListResource
) -> dg.MaterializeResult:
    installed = f"{SOURCE_PACKAGE} {source_version()} (installed)"
    source_changes = [
        {**{name: None for name in CHANGE_COLUMNS}, "change_type": row["change_type"], "model": row["model"],
         "list_provider": installed, "differing_prices": row["detail"], "action": row["action"],
         "price_list_source": installed}
        for row in review_rows()
    ]
    context.log.info(f"{len(source_changes)} differences between the committed catalog and {installed}")
    source = price_list.configured_source()
    changes: list[dict] = []
    prices: dict = {}
    shown = None
    if not source:
        context.log.info(SKIPPED)
    else:
        shown = redact(source)
        context.log.info(f"reading the price list from {shown}")
        try:
            prices = parse_price_list(fetch_price_list(source, timeout=price_list.timeout_seconds))
        except PriceListError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None

    with warehouse.connect() as con:
        if source:
            as_of = date.fromisoformat(price_list.as_of) if price_list.as_of else datetime.now(UTC).date()
            # the base price (standard tier, no long-context tier, the first window) of each model in effect
            catalog_rows = con.execute(
                """
                select model, provider, input_price_per_1m_usd, output_price_per_1m_usd,
                       cache_read_price_per_1m_usd, cache_write_price_per_1m_usd
                from main.model_catalog
                where valid_from <= ? and (valid_to is null or valid_to > ?)
                    and service_tier = 'any' and input_tokens_above is null
                qualify row_number() over (partition by model order by window_start nulls first) = 1
                order by model
                """,
                [as_of, as_of],
            ).fetchall()
            catalog = [
                dict(zip(("model", "provider", "input_price_per_1m_usd", "output_price_per_1m_usd",
                          "cache_read_price_per_1m_usd", "cache_write_price_per_1m_usd"), row, strict=True))
                for row in catalog_rows
            ]
            aliases = read_aliases()  # the matching rule: ingest/price_list.py, from the seeds
            changes = [{**row, "action": LIST_ACTIONS[row["change_type"]], "price_list_source": shown}
                       for row in compare_catalog(catalog, prices, aliases)]
        checked_at = datetime.now(UTC).replace(tzinfo=None)
        con.execute("begin")
        con.execute(_create_table_sql())
        con.execute(f"drop table if exists {LEGACY_TABLE}")
        rows = source_changes + changes
        if rows:
            placeholders = ", ".join("?" for _ in range(len(CHANGE_COLUMNS) + 3))
            con.executemany(
                f"insert into {TABLE} values ({placeholders})",
                [[row[name] for name in CHANGE_COLUMNS] + [row["action"], row["price_list_source"], checked_at]
                 for row in rows],
            )
        con.execute("commit")

    if not source:
        return dg.MaterializeResult(metadata={
            "source_differences": len(source_changes), "installed_source": installed,
            "skipped": True, "reason": SKIPPED,
        })
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
            "source_differences": len(source_changes),
            "installed_source": installed,
            "price_list": shown,
            "list_models": len(prices),
            **counts,
            "prices_that_differ": dg.MetadataValue.md(preview),
        }
    )
