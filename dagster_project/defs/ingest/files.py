"""Ingest assets: land raw files in the warehouse's `raw` schema by calling ingest/ (no logic lives here).

Asset keys equal the dbt sources' keys ([raw, <table>]), so lineage runs from these into every dbt model.

The gateway files asset is not partitioned: a file is the unit of atomicity. A run lands every new or changed file
whole, in one transaction per file, and a later run skips it (same name and SHA-256, or the same size, mtime and
inode without reading it), so running again never double-counts. Its metadata records the UTC days the run's new
requests fall on (`days_landed`), and the requests in the run's days (dagster_project/partitions.py).

Only what :func:`ingest.files.scan_drop_zone` accepts is read; refused entries (links, FIFOs, devices, names that
are not UTF-8) and near misses are recorded in ``raw.drop_zone_refusals`` and warned about.
"""

from collections import Counter
from datetime import timedelta

import dagster as dg

from dagster_project.metadata import markdown_table, reasons_table
from dagster_project.partitions import run_days
from dagster_project.resources import DUCKDB_WRITER_POOL, WarehouseResource
from ingest.drop_zone import record_refusals
from ingest.files import DropZoneListing, gateway_dir, scan_drop_zone
from ingest.warehouse import LoadResult, line_counts, load_gateway_files, load_users

GROUP = "ingest"
PREVIEW_ROWS = 10  # quarantined lines shown on the asset page


def _totals(results: list[LoadResult]) -> dict[str, int]:
    loaded = [result for result in results if not result.skipped]
    gone = [result for result in results if result.skipped and result.sha256 is None]  # vanished before reading
    return {
        "files_seen": len(results),
        "files_loaded": len(loaded),
        "files_unchanged": len(results) - len(loaded) - len(gone),
        "files_gone": len(gone),
        **line_counts(loaded),
    }


def _not_loaded(listing: DropZoneListing, context: dg.AssetExecutionContext) -> dict[str, object]:
    """Say what of the drop zone is not loaded (a warning for refused entries and near misses, info for skipped
    ones) and return the metadata counts and a table of the refused and near-miss entries."""
    for kind, entries, log in (
        ("refused, never read (recorded in raw.drop_zone_refusals)", listing.refused, context.log.warning),
        ("not loaded, the name almost matches (recorded in raw.drop_zone_refusals)", listing.near_misses,
         context.log.warning),
        ("skipped", listing.skipped, context.log.info),
    ):
        if entries:
            shown = "; ".join(f"{entry.name}: {entry.detail}" for entry in entries[:20])
            log(f"drop zone: {len(entries)} entries {kind}: {shown}" + (" ..." if len(entries) > 20 else ""))
    rows = [(entry.name.replace("|", "\\|"), kind, entry.reason, entry.detail)
            for kind, entries in (("refused", listing.refused), ("near miss", listing.near_misses))
            for entry in entries][:50]
    return {
        "files_refused": len(listing.refused),
        "files_near_miss": len(listing.near_misses),
        "files_skipped": len(listing.skipped),
        "not_loaded": dg.MetadataValue.md(markdown_table(("name", "kind", "reason", "detail"), rows)),
    }


def _days_landed(days: list[tuple]) -> dg.MetadataValue:
    """The UTC days of the requests this run landed, with their counts (a day per row; at most 100 rows)."""
    rows = [(f"{day}", f"{count:,}") for day, count in days[:100]]
    if len(days) > 100:
        rows.append((f"... {len(days) - 100} more days", f"{sum(count for _, count in days[100:]):,}"))
    return dg.MetadataValue.md(markdown_table(("day (UTC)", "new requests"), rows))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", "gateway_requests"],
            description="Distinct gateway requests landed from `<data dir>/raw/gateway/*.jsonl[.gz]`.",
            group_name=GROUP,
            kinds={"python", "duckdb"},
        ),
        dg.AssetSpec(
            ["raw", "quarantine"],
            description="Bad lines kept aside with reason, file, line and field.",
            group_name=GROUP,
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            ["raw", "load_log"],
            description="Per source: lines read = accepted + duplicates + quarantined.",
            group_name=GROUP,
            kinds={"duckdb"},
        ),
    ],
    pool=DUCKDB_WRITER_POOL,
)
def gateway_log_files(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Land new or changed gateway log files whole; unchanged files are skipped, every id is landed once."""
    data_dir = warehouse.root
    start, end = (moment.replace(tzinfo=None) for moment in run_days(context))
    context.log.info(f"reading gateway log files from {gateway_dir(data_dir)}")
    listing = scan_drop_zone(gateway_dir(data_dir))
    with warehouse.connect() as con:
        record_refusals(con, listing, load_id=context.run.run_id)
        results = load_gateway_files(
            con, data_dir, load_id=context.run.run_id, files=listing.files, progress=context.log.info
        )
        in_window = con.execute(
            "select count(*) from raw.gateway_requests where created_at >= ? and created_at < ?", [start, end]
        ).fetchone()[0]
        quarantine_total = con.execute("select count(*) from raw.quarantine").fetchone()[0]
        quarantined = con.execute(
            "select source, line_number, reason, field, detail from raw.quarantine where load_id = ? "
            f"order by source, line_number limit {PREVIEW_ROWS}", [context.run.run_id]
        ).fetchall()
        days = con.execute(
            "select cast(created_at as date), count(*) from raw.gateway_requests where load_id = ? group by 1 "
            "order by 1", [context.run.run_id]
        ).fetchall()
    totals = _totals(results)
    not_loaded = _not_loaded(listing, context)
    reasons = sum((result.reasons for result in results), Counter())
    context.log.info(
        f"gateway files: {totals['files_loaded']} landed, {totals['files_unchanged']} unchanged"
        + (f", {totals['files_gone']} gone" if totals["files_gone"] else "")
        + f"; {totals.get('lines_read', 0):,} lines: {totals.get('accepted', 0):,} new requests, "
        f"{totals.get('duplicates', 0):,} duplicates, {totals.get('quarantined', 0):,} quarantined; "
        f"{in_window:,} requests in the run's days {start:%Y-%m-%d}..{end - timedelta(seconds=1):%Y-%m-%d}"
    )
    if not results:
        context.log.warning(f"no *.jsonl or *.jsonl.gz files in {gateway_dir(data_dir)}: nothing to load")
    yield dg.MaterializeResult(
        asset_key=["raw", "gateway_requests"],
        metadata={**totals, **not_loaded, "requests_in_run_days": in_window, "run_days": f"{start:%Y-%m-%d}.."
                  f"{end - timedelta(seconds=1):%Y-%m-%d}", "days_landed": _days_landed(days),
                  "data_dir": str(data_dir)},
    )
    yield dg.MaterializeResult(
        asset_key=["raw", "quarantine"],
        metadata={"new_this_run": totals["quarantined"], "total_rows": quarantine_total,
                  "reasons_this_run": reasons_table(reasons), "table": "raw.quarantine",
                  "preview_this_run": dg.MetadataValue.md(markdown_table(
                      ("source", "line", "reason", "field", "detail"),
                      [(source.replace("|", "\\|"), line, reason, field, (detail or "").replace("|", "\\|")[:120])
                       for source, line, reason, field, detail in quarantined])),
                  "query": "select reason, source, line_number, field, detail from raw.quarantine "
                           f"where load_id = '{context.run.run_id}'"},
    )
    yield dg.MaterializeResult(asset_key=["raw", "load_log"], metadata={"sources_logged": totals["files_loaded"]})


@dg.asset(
    key=["raw", "users"],
    description="The platform's users export (`<data dir>/raw/users.csv`), replaced as a whole on each load; an "
                "export with the bytes of the last one landed (same SHA-256) is not loaded again.",
    group_name=GROUP,
    kinds={"python", "duckdb"},
    pool=DUCKDB_WRITER_POOL,
)
def users_export(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        result = load_users(con, warehouse.root, load_id=context.run.run_id)
        if result is not None and result.skipped:
            users, quarantined = con.execute(
                "select accepted, quarantined from raw.load_log where load_id = ? and source = ?",
                [result.unchanged_since, result.source]).fetchone()
            context.log.info(f"users export: unchanged since load {result.unchanged_since} (same SHA-256): raw.users "
                             f"kept as it is, {users} users")
            return dg.MaterializeResult(metadata={"users": users, "quarantined": quarantined, "found": True,
                                                  "unchanged": True})
    if result is None:
        context.log.warning(f"no users export at {warehouse.root / 'raw' / 'users.csv'}: raw.users left as it is")
        return dg.MaterializeResult(metadata={"users": 0, "found": False})
    context.log.info(f"users export: {result.accepted} users, {result.quarantined} rows quarantined")
    return dg.MaterializeResult(
        metadata={"users": result.accepted, "quarantined": result.quarantined, "found": True,
                  "reasons": reasons_table(result.reasons)}
    )
