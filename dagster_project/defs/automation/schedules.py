"""When the graph runs by itself: a daily schedule with a lookback window, and a sensor on the drop zone."""

import hashlib
import json
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from dagster_project.resources import WarehouseResource
from dagster_project.settings import (  # noqa: F401 - re-exported
    DEFAULT_LOOKBACK_DAYS,
    LOOKBACK_ENV,
    lookback_days,
    partition_range_tags,
)
from ingest.drop_zone import drop_zone_changes, mtime_day
from ingest.files import LogFile, safe_name

materialize_everything = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Land raw data, then build and test every dbt model and output (what `make run` does).",
    # One process for the whole run: the steps are sequential anyway (one DuckDB writer), and a process per step
    # would load the definitions again for each.
    executor_def=dg.in_process_executor,
)


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


def new_files_range(changed: list[LogFile], today: date, lookback: int) -> tuple[date, date]:
    """The days a run for new files covers, decided from the files' mtimes alone (nothing is read).

    A file's mtime is the day of its last write, and none of its lines was written later: the run covers from the
    earliest such day, less the lookback window (late requests), to today. A line of an older day still lands
    (landing is per file, whatever the partitions) and is priced (the dbt models price every new request, in the
    run's days or not: see `changed` in int_requests_trial_applied.sql); only that day's partition status in Dagster
    is not refreshed by this run.
    """
    last_write = min(min(mtime_day(log_file) for log_file in changed), today)
    return last_write - timedelta(days=lookback), today


@dg.sensor(
    job=materialize_everything,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New or changed files in <data dir>/raw/gateway (by name, size and mtime; no file is read): "
    "materialize from the earliest file's last-write day, less the lookback window, to today.",
)
def new_gateway_files(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    previous = json.loads(context.cursor) if context.cursor else {}
    changes = drop_zone_changes(warehouse.root, previous)
    if not changes.changed:
        return dg.SkipReason("no new or changed gateway log files")
    today = datetime.now(timezone.utc).date()
    first, last = new_files_range(changes.changed, today, lookback_days())
    cursor = json.dumps(changes.state, sort_keys=True)
    context.update_cursor(cursor)
    names = sorted(safe_name(log_file.path.name) for log_file in changes.changed)
    not_loaded = len(changes.listing.refused) + len(changes.listing.near_misses)
    context.log.info(
        f"{len(names)} new or changed files ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''}): "
        f"materializing {first}..{last}"
        + (f"; {not_loaded} entries of the drop zone are not loaded (the run lists them)" if not_loaded else "")
    )
    return dg.RunRequest(
        run_key=f"files-{hashlib.sha256(cursor.encode()).hexdigest()[:16]}",
        tags=partition_range_tags(first, last),
    )
