"""When the graph runs by itself."""

import dagster as dg

materialize_everything = dg.define_asset_job(
    "materialize_everything",
    selection=dg.AssetSelection.all(),
    description="Land raw files, then build and test every dbt model (what `make run` does).",
    # One process for the whole run: the steps are sequential anyway (one DuckDB writer), and a process per step
    # would load the definitions again for each.
    executor_def=dg.in_process_executor,
)

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh",
    job=materialize_everything,
    cron_schedule="15 2 * * *",
    execution_timezone="UTC",
    description="Every day at 02:15 UTC: land the previous day's logs and rebuild the marts.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
