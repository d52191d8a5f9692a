"""Housekeeping while `make dev` runs: the sensor that clears runs whose process died (dagster_project/dead_runs.py)."""

import dagster as dg

from dagster_project.dead_runs import recover_dead_runs
from dagster_project.resources import DUCKDB_WRITER_POOL


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Housekeeping: runs whose process died (killed, out of memory, a reboot) are marked failed and "
    f"their {DUCKDB_WRITER_POOL} slot freed, so that later runs do not wait for them for ever.",
)
def dead_run_cleanup(context: dg.SensorEvaluationContext):
    failed = recover_dead_runs(context.instance, log=context.log.warning)
    return dg.SkipReason(f"marked {len(failed)} dead runs failed" if failed else "no dead run")
