"""The one code location: `dagster dev` (make dev) loads this module.

Assets and asset checks are collected from the modules of `dagster_project/assets/`; add a module there and it
is part of the graph. Resources are configured here, from the environment at run time.
"""

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project import assets
from dagster_project.project import dbt_executable, dbt_project
from dagster_project.resources import WarehouseResource
from dagster_project.schedules import daily_refresh, materialize_everything, new_gateway_files

ALL_ASSETS = dg.load_assets_from_package_module(assets)
ALL_ASSET_CHECKS = dg.load_asset_checks_from_package_module(assets)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_ASSET_CHECKS,
    jobs=[materialize_everything],
    schedules=[daily_refresh],
    sensors=[new_gateway_files],
    resources={
        "warehouse": WarehouseResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        # "gateway_api" (GatewayApiResource, AI_GATEWAY_* at run time) is bound on its asset in assets/gateway_api.py,
        # so that the tests' materializations have it too; a second binding here would conflict.
    },
)
