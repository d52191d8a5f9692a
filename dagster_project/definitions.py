"""The one code location: `dagster dev` (make dev) loads this module."""

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.assets.dbt import warehouse_dbt_models
from dagster_project.assets.ingest import gateway_log_files, users_export
from dagster_project.project import dbt_executable, dbt_project
from dagster_project.resources import WarehouseResource
from dagster_project.schedules import daily_refresh, materialize_everything

defs = dg.Definitions(
    assets=[gateway_log_files, users_export, warehouse_dbt_models],
    jobs=[materialize_everything],
    schedules=[daily_refresh],
    resources={
        "warehouse": WarehouseResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    },
)
