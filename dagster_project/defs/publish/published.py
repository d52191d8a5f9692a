"""The published copy of the warehouse (dagster_project/publish/published.py): the last step of every run that
writes the warehouse, so `make run`, the schedule and the sensor all publish.

It depends on every asset that writes the warehouse file (the ingest tables, every dbt model and seed, the catalog
review, the alert recording), so it runs once they are done; it holds the writer pool for the copy."""

import time

import dagster as dg

from dagster_project.defs.catalog import price_changes
from dagster_project.defs.dbt import assets as dbt_assets
from dagster_project.defs.ingest import files, gateway_api
from dagster_project.defs.publish import assets as publish_assets
from dagster_project.publish.published import publish as publish_copy
from dagster_project.publish.published import published_path
from dagster_project.resources import DUCKDB_WRITER_POOL, WarehouseResource

# Everything that writes the warehouse file (the modules' assets, not imported by name: the defs loader would
# collect them twice).
WRITERS = (
    files.gateway_log_files,
    files.users_export,
    gateway_api.gateway_api_pull,
    dbt_assets.warehouse_dbt_models,
    price_changes.catalog_price_changes,
    publish_assets.billing_alert_notifications,
)


@dg.asset(
    deps=sorted({key for writer in WRITERS for key in writer.keys}, key=lambda k: k.to_user_string()),
    description=(
        "The copy of the warehouse that people, finance and BI tools open: <data dir>/published/warehouse.duckdb "
        "(read-only), replaced atomically once every asset that writes the warehouse is done. A reader holding it "
        "open never blocks a run and sees the new figures when it reconnects; nobody opens <data dir>/warehouse.duckdb."
    ),
    group_name=publish_assets.GROUP,
    kinds={"python", "duckdb"},
    pool=DUCKDB_WRITER_POOL,
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    started = time.process_time()
    publication = publish_copy(warehouse.path, published_path(warehouse.root), lambda: warehouse.connect())
    cpu = time.process_time() - started
    context.log.info(f"published {publication.path} ({publication.size_bytes / 2**20:,.1f} MiB, "
                     f"{publication.requests:,} requests)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(publication.path)),
            "size_bytes": publication.size_bytes,
            "tables_and_views": publication.tables,
            "requests": publication.requests,
            "cpu_seconds": round(cpu, 3),
        }
    )
