"""The one code location (`make dev`, `python -m dagster_project.run`): every definition under `defs/`.

`defs/` holds the definitions by domain, each module collected by Dagster's `load_from_defs_folder` (configured in
pyproject.toml, [tool.dg.project]):

    defs/ingest/      raw files, the gateway API pull, the checks on what landed
    defs/dbt/         every dbt model, seed and test in one `dbt build`
    defs/publish/     finance exports, the spending report, billing-alert delivery
    defs/catalog/     the catalog review (catalog_price_changes)
    defs/automation/  the job materialize_everything, the daily schedule, the drop-zone and dead-run sensors
    defs/resources.py every resource, and the environment variables that configure them

Add a module under `defs/` and its assets are part of the graph. The plain helpers the definitions call (settings,
resources' classes, publish writers, dead-run logic, the run path) live beside `defs/`, not in it.
"""

from pathlib import Path

import dagster as dg

from dagster_project.progress import progress_logger

# Every run of the code location (`make dev`: the sensor's, the schedule's, the UI's) logs through progress.py: a few
# lines per step on the terminal, Dagster's whole event stream in `<data dir>/logs/run-<run id>.log` (its path is
# printed when the run starts). `make run` configures the same logger itself.
defs = dg.Definitions.merge(
    dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
    dg.Definitions(loggers={"console": progress_logger}),
)

# For tests and the benchmark, which materialize the asset graph with resources of their own.
ALL_ASSETS = list(defs.assets or [])
ALL_ASSET_CHECKS = list(defs.asset_checks or [])
