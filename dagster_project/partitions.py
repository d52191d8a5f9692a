"""The days a run covers. No asset is partitioned: landing is per file (a file lands whole, whatever the days), the
dbt models price what is new by their own watermarks, so a daily partition would only be bookkeeping, a
materialization per day and asset in Dagster's event log (at 30 days, 240 of a run's events) and "missing" days in
the UI before the first request. A run still covers given days, for the gateway API pull and for what the ingest
asset reports (the days its new requests fall on): `make run`, the daily schedule and the drop-zone sensor set them as
the run tags `dagster/asset_partition_range_start` / `_end` (UTC days, inclusive); a run without them (the UI's
"Materialize all") covers yesterday less the lookback window to today."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import dagster as dg

from dagster_project.settings import lookback_days

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def run_days(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    """[start, end) in UTC: from the first day of the run's day tags to the end of its last day, or the default
    window (see the module)."""
    tags = context.run.tags
    try:
        first, last = date.fromisoformat(tags[RANGE_START]), date.fromisoformat(tags[RANGE_END])
    except (KeyError, ValueError):
        last = datetime.now(timezone.utc).date()
        first = last - timedelta(days=1 + lookback_days())
    return (datetime.combine(first, time(), timezone.utc),
            datetime.combine(max(first, last) + timedelta(days=1), time(), timezone.utc))
