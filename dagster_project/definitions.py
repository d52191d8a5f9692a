"""The one code location: `dagster dev` (make dev) loads this module.

Assets and asset checks are collected from the modules of `dagster_project/assets/`; add a module there and it
is part of the graph. Resources are configured here, from the environment at run time.
"""

import warnings

import dagster as dg

# Three assets bind a default resource of their own (`resource_defs`) and the partitioned ones take a single-run
# backfill policy: both are "beta" in Dagster 1.13 and warn on every load, which tells an analyst nothing.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from dagster_project import assets  # noqa: E402
from dagster_project.dead_runs import dead_run_cleanup  # noqa: E402
from dagster_project.project import WarehouseDbtResource, dbt_executable, dbt_project  # noqa: E402
from dagster_project.resources import WarehouseResource  # noqa: E402
from dagster_project.schedules import daily_refresh, materialize_everything, new_gateway_files  # noqa: E402

ALL_ASSETS = dg.load_assets_from_package_module(assets)
ALL_ASSET_CHECKS = dg.load_asset_checks_from_package_module(assets)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_ASSET_CHECKS,
    jobs=[materialize_everything],
    schedules=[daily_refresh],
    sensors=[new_gateway_files, dead_run_cleanup],
    resources={
        "warehouse": WarehouseResource(),
        "dbt": WarehouseDbtResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        # "gateway_api" (GatewayApiResource, AI_GATEWAY_* at run time) is bound on its asset in assets/gateway_api.py,
        # so that the tests' materializations have it too; a second binding here would conflict.
    },
)
