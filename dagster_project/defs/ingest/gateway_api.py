"""The gateway logs API pull: calls ingest.gateway_api (no logic lives here), for the days of the run (`make run`, the
schedule and the sensor set them; dagster_project/partitions.py).

Requests pulled from the API land in the same table as the files, raw.gateway_requests (source_kind
'gateway_api', source 'api:<gateway id>:<start>/<end>'), deduplicated by id against everything already landed.
The asset's key is [raw, gateway_api_pull]: the file ingest owns [raw, gateway_requests], and two assets cannot
produce one key.

Each day of the run is pulled whole, then landed in one transaction as its own source, with one
raw.load_log row: a run killed or failing half-way leaves whole days or nothing. Without the AI_GATEWAY_* settings
the asset succeeds and says the pull was skipped, so `make run` works on files alone.
"""

from collections import Counter

import dagster as dg

from dagster_project.metadata import markdown_table, reasons_table
from dagster_project.partitions import run_days
from dagster_project.resources import DUCKDB_WRITER_POOL, GATEWAY_ENV, GatewayApiResource, WarehouseResource
from ingest.gateway_api import GatewayApiError, land_gateway_pull
from ingest.warehouse import line_counts

GROUP = "ingest"
SKIPPED = "gateway pull skipped: AI_GATEWAY_* not set"


def _days_table(results) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(
        ("source", "lines read", "accepted", "duplicates", "quarantined"),
        [(r.source, r.lines_read, r.accepted, r.duplicates, r.quarantined) for r in results],
    ))


GATEWAY_API_PULL = dg.AssetKey(["raw", "gateway_api_pull"])


@dg.asset(
    key=GATEWAY_API_PULL,
    description=(
        "Requests pulled from the AI gateway's logs API for each UTC day of the run, landed into "
        "raw.gateway_requests (deduplicated by id with the files) with one raw.load_log row per day."
    ),
    group_name=GROUP,
    kinds={"python", "duckdb"},
    pool=DUCKDB_WRITER_POOL,
)
def gateway_api_pull(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, gateway_api: GatewayApiResource
) -> dg.MaterializeResult:
    start, end = run_days(context)
    missing = gateway_api.missing_env()
    if len(missing) == len(GATEWAY_ENV):
        context.log.info(SKIPPED)
        return dg.MaterializeResult(metadata={"skipped": True, "reason": SKIPPED})
    if missing:
        raise dg.Failure(
            description=f"gateway pull misconfigured: {', '.join(missing)} not set (set all four AI_GATEWAY_* "
            "variables, or none to skip the pull)",
            allow_retries=False,
        )
    landed_days: list[str] = []

    def progress(message: str) -> None:
        landed_days.append(message)
        context.log.info(message)

    try:
        with gateway_api.client(log=context.log.warning) as client, warehouse.connect() as con:
            results = land_gateway_pull(
                con, client, start=start, end=end, load_id=context.run.run_id, progress=progress
            )
    except GatewayApiError as error:
        # Days before the failing one stay landed (each is whole); running the days again is harmless.
        raise dg.Failure(
            description=f"gateway pull failed: {error}",
            metadata={"days_landed_before_the_failure": len(landed_days)},
        ) from None
    reasons = sum((r.reasons for r in results), Counter())
    return dg.MaterializeResult(
        metadata={
            "skipped": False,
            "gateway_id": client.settings.gateway_id,
            "window": f"{start.isoformat()} .. {end.isoformat()}",
            "days_pulled": len(results),
            **line_counts(results),
            "reasons": reasons_table(reasons),
            "days": _days_table(results),
        }
    )
