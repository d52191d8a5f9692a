"""Every resource of the code location, and the one place where the environment configures them.

A set variable is bound with `dg.EnvVar`: Dagster reads it when a run starts and never stores its value with the run
(the gateway token and a webhook URL may be secrets). An unset one leaves the field at its default instead, because
`dg.EnvVar` fails the run on an unset variable and these are optional: no gateway variables skips the pull, no
webhook URL shows alerts in the UI only, no price list skips that comparison, no data directory is `<project>/data`.
Run config (`resources.<key>.config`) overrides any field.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dagster_project.project import WarehouseDbtResource, dbt_executable, dbt_project
from dagster_project.resources import (
    GATEWAY_ENV,
    PRICE_LIST_ENV_BY_FIELD,
    WEBHOOK_ENV,
    AlertWebhookResource,
    GatewayApiResource,
    PriceListResource,
    WarehouseResource,
)
from ingest.settings import DATA_DIR_ENV


def _env(name: str) -> dg.EnvVar | str:
    """`dg.EnvVar(name)` when the variable is set, else "" (the field's default: off, or the default data dir).
    Whether it is set is read when the definitions load; its value, by Dagster when a run starts."""
    return dg.EnvVar(name) if os.environ.get(name, "").strip() else ""


def warehouse_resources(data_dir: Path | str | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources by key: the data directory `data_dir` (tests), else $AI_USAGE_DATA_DIR, else the default."""
    warehouse = WarehouseResource(data_dir=str(data_dir) if data_dir else _env(DATA_DIR_ENV))
    return {
        "warehouse": warehouse,
        "dbt": WarehouseDbtResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
        "gateway_api": GatewayApiResource(**{field: _env(env) for field, env in GATEWAY_ENV.items()}),
        "alert_webhook": AlertWebhookResource(**{field: _env(env) for field, env in WEBHOOK_ENV.items()}),
        "price_list": PriceListResource(**{field: _env(env) for field, env in PRICE_LIST_ENV_BY_FIELD.items()}),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=warehouse_resources())
