"""When the graph runs by itself: a daily schedule with a lookback window, and a sensor on the drop zone."""

import json
import os
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from dagster_project.partitions import FIRST_DAY
from dagster_project.resources import WarehouseResource
from ingest.drop_zone import changed_files, days_touched, file_states

LOOKBACK_ENV = "AI_USAGE_LOOKBACK_DAYS"
DEFAULT_LOOKBACK_DAYS = 2

materialize_everything = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Land raw data, then build and test every dbt model and output (what `make run` does).",
    # One process for the whole run: the steps are sequential anyway (one DuckDB writer), and a process per step
    # would load the definitions again for each.
    executor_def=dg.in_process_executor,
)


def partition_range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the daily partitions first..last (inclusive), clamped to the calendar."""
    today = datetime.now(timezone.utc).date()
    first = max(first, date.fromisoformat(FIRST_DAY))
    last = min(max(last, first), today)
    first = min(first, last)
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def lookback_days() -> int:
    """$AI_USAGE_LOOKBACK_DAYS (default 2): how many days before yesterday the daily run re-pulls and rebuilds."""
    raw = os.environ.get(LOOKBACK_ENV, "").strip() or str(DEFAULT_LOOKBACK_DAYS)
    if not raw.isdigit() or int(raw) > 60:
        raise ValueError(f"{LOOKBACK_ENV}={raw!r}: set it to a whole number of days between 0 and 60")
    return int(raw)


@dg.schedule(
    job=materialize_everything,
    cron_schedule="15 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 02:15 UTC: yesterday plus the lookback window (late requests land in their day).",
)
def daily_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    yesterday = context.scheduled_execution_time.astimezone(timezone.utc).date() - timedelta(days=1)
    first = yesterday - timedelta(days=lookback_days())
    return dg.RunRequest(run_key=f"daily-{yesterday}", tags=partition_range_tags(first, yesterday))


@dg.sensor(
    job=materialize_everything,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New or changed files in <data dir>/raw/gateway: materialize the days they touch.",
)
def new_gateway_files(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = changed_files(warehouse.root, previous)
    if not changed:
        return dg.SkipReason("no new or changed gateway log files")
    days = days_touched(changed) or {datetime.now(timezone.utc).date()}  # unreadable files: land (quarantine) today
    state = file_states(warehouse.root)
    context.update_cursor(json.dumps(state, sort_keys=True))
    names = ", ".join(sorted(path.name for path in changed)[:5]) + (" ..." if len(changed) > 5 else "")
    context.log.info(f"{len(changed)} new or changed files ({names}) touch {min(days)}..{max(days)}")
    return dg.RunRequest(
        run_key=f"files-{hash(json.dumps(state, sort_keys=True)) & 0xFFFFFFFF:08x}",
        tags=partition_range_tags(min(days), max(days)),
    )
