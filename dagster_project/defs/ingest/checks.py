"""Asset checks on what ingest landed: the load log balances, and quarantine growth.

These two stay Python asset checks on the landing's own assets, not dbt tests: they check the landing step itself
(its accounting in raw.load_log, and what this run's load, known by its Dagster run id, put in raw.quarantine), so
they run right after landing in any run that lands, also one that materializes no dbt model, and the second needs
the run id, which dbt does not have. They only read (DuckDB opened read_only) and share the writer pool so they
never meet a writer's lock.

The reconciliations over the priced data are dbt tests (severity warn) that Dagster shows as checks through
dagster-dbt: `users_in_the_users_export` and `gateway_cost_matches_provider_cost` in dbt_project/tests/singular/.
"""

import dagster as dg
import duckdb

from dagster_project.defs.ingest.gateway_api import GATEWAY_API_PULL
from dagster_project.metadata import md_table
from dagster_project.resources import DUCKDB_WRITER_POOL, WarehouseResource

SAMPLE = 10  # ids or rows listed in a check's metadata

LOAD_LOG = dg.AssetKey(["raw", "load_log"])
QUARANTINE = dg.AssetKey(["raw", "quarantine"])
USERS = dg.AssetKey(["raw", "users"])


def _open(warehouse: WarehouseResource) -> duckdb.DuckDBPyConnection | None:
    """The warehouse read-only, or None when nothing has been landed yet."""
    return warehouse.connect(read_only=True) if warehouse.path.exists() else None


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return (
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
        > 0
    )


def _run_id(context: dg.AssetCheckExecutionContext) -> str:
    try:
        return context.run.run_id
    except dg.DagsterError:  # invoked directly (tests): there is no run
        return ""


def _nothing_yet(what: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"note": f"{what} does not exist yet: nothing to check"})


@dg.asset_check(
    asset=LOAD_LOG,
    additional_deps=[GATEWAY_API_PULL, USERS],
    description="Every landed source (file, API day, users export): lines read = accepted + duplicates + quarantined.",
    pool=DUCKDB_WRITER_POOL,
)
def load_log_balances(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    con = _open(warehouse)
    if con is None or not _has_table(con, "raw", "load_log"):
        return _nothing_yet("raw.load_log")
    with con:
        sources, kinds = con.execute(
            "select count(*), count(distinct source_kind) from raw.load_log"
        ).fetchone()
        bad = con.execute(
            """
            select load_id, source, source_kind, lines_read, accepted, duplicates, quarantined
            from raw.load_log
            where lines_read <> accepted + duplicates + quarantined
               or least(lines_read, accepted, duplicates, quarantined) < 0
            order by finished_at desc
            """
        ).fetchall()
        by_kind = con.execute(
            """
            select source_kind, count(*), sum(lines_read), sum(accepted), sum(duplicates), sum(quarantined)
            from raw.load_log group by 1 order by 1
            """
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(bad)} of {sources} landed sources do not add up: lines are missing from the counts"
            if bad
            else f"all {sources} landed sources add up"
        ),
        metadata={
            "sources": sources,
            "source_kinds": kinds,
            "unbalanced": len(bad),
            "unbalanced_sources": md_table(
                ("load_id", "source", "kind", "read", "accepted", "duplicates", "quarantined"), bad[:SAMPLE]
            ),
            "totals_by_kind": md_table(
                ("kind", "sources", "read", "accepted", "duplicates", "quarantined"), by_kind
            ),
        },
    )


@dg.asset_check(
    asset=QUARANTINE,
    additional_deps=[GATEWAY_API_PULL, USERS],
    description="Warns when the latest load (this run's, else the newest in raw.load_log) added quarantined lines.",
    pool=DUCKDB_WRITER_POOL,
)
def quarantine_did_not_grow(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    con = _open(warehouse)
    if con is None or not _has_table(con, "raw", "quarantine"):
        return _nothing_yet("raw.quarantine")
    with con:
        load_id = _run_id(context)
        if not con.execute("select count(*) from raw.load_log where load_id = ?", [load_id]).fetchone()[0]:
            latest = con.execute(
                "select load_id from raw.load_log order by finished_at desc limit 1"
            ).fetchone()
            load_id = latest[0] if latest else load_id
        total = con.execute("select count(*) from raw.quarantine").fetchone()[0]
        reasons = con.execute(
            """
            select reason, count(*) as lines, count(distinct source) as sources, min(source || ':' || coalesce(
                line_number::varchar, '?')) as first_at
            from raw.quarantine where load_id = ? group by reason order by lines desc, reason
            """,
            [load_id],
        ).fetchall()
    added = sum(row[1] for row in reasons)
    return dg.AssetCheckResult(
        passed=added == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"load {load_id} quarantined {added} new lines: "
            + ", ".join(f"{reason} {lines}" for reason, lines, *_ in reasons)
            + ". See raw.quarantine (reason, source, line_number, field, detail)"
            if added
            else f"load {load_id} quarantined nothing new"
        ),
        metadata={
            "load_id": load_id,
            "added": added,
            "total_rows": total,
            "reasons": md_table(("reason", "lines", "sources", "first at"), reasons),
        },
    )
