"""When the graph runs by itself: a daily schedule with a lookback window, and a sensor on the drop zone."""

import hashlib
import json
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from dagster_project import run as run_path
from dagster_project.dead_runs import PID_TAG
from dagster_project.instance import tag_check_outcomes
from dagster_project.resources import WarehouseResource
from dagster_project.settings import (  # noqa: F401 - re-exported
    DEFAULT_LOOKBACK_DAYS,
    LOOKBACK_ENV,
    lookback_days,
    partition_range_tags,
)
from ingest.drop_zone import mtime_day
from ingest.files import LogFile, safe_name

materialize_everything = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Land raw data, then build and test every dbt model and output (what `make run` does).",
    # One process for the whole run: the steps are sequential anyway (one DuckDB writer), and a process per step
    # would load the definitions again for each.
    executor_def=dg.in_process_executor,
    # Its runs log through dagster_project/progress.py (the code location's "console" logger, definitions.py): a
    # few lines per step on the terminal of `make dev`, the whole event stream in a log file whose path the run
    # prints first. Dagster uses a job's loggers only when run config names them, hence this default.
    config={"loggers": {"console": {}}},
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
    description="New or changed files in `<data dir>/raw/gateway` (by name, size and mtime; no file is read), less "
    "those the landing ledger shows landed as they are (by `make run` or any other run): materialize from the "
    "earliest file's last-write day, less the lookback window, to today.",
)
def new_gateway_files(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    previous = json.loads(context.cursor) if context.cursor else {}
    changes = run_path.known_changes(warehouse.root, previous)
    if not changes.changed:
        context.update_cursor(json.dumps(changes.state, sort_keys=True))
        return dg.SkipReason("no new or changed gateway log files (or all landed already, by any run)")
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


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[materialize_everything],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="After a successful run of materialize_everything launched here (the sensor, the schedule, the UI): "
    "tag it with its checks that did not pass (`checks/warned`, `checks/failed`), and record what it saw as `make "
    "run` does (`<data dir>/logs/last_run.json`; the files the landing ledger shows landed), so that the next "
    "`make run` does not redo it.",
)
def remember_successful_runs(context: dg.RunStatusSensorContext, warehouse: WarehouseResource):
    if PID_TAG in context.dagster_run.tags:  # a `make run`: it records its own state and tags
        return dg.SkipReason("a make run records its own state")
    tag_check_outcomes(context.instance, context.dagster_run.run_id)
    data_dir = warehouse.root
    listing = run_path.known_changes(data_dir, {})
    landed = run_path.landed_files(data_dir, listing.state)
    state = {**run_path.current_state(data_dir, listing), "drop_zone": landed}
    alerts = context.instance.get_latest_materialization_event(dg.AssetKey(run_path.ALERTS_ASSET))
    undelivered = (run_path.undelivered_in(alerts.asset_materialization.metadata)
                   if alerts and alerts.run_id == context.dagster_run.run_id and alerts.asset_materialization else 0)
    run_path.write_state(data_dir, {**state, "undelivered_alerts": undelivered, "run_id": context.dagster_run.run_id})
    return dg.SkipReason(f"recorded run {context.dagster_run.run_id}: {len(landed)} landed files")
