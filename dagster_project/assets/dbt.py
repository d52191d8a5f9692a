"""The dbt models as Dagster assets: `dbt build` streamed, so dbt tests show up as asset checks."""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.project import dbt_project
from dagster_project.resources import DATA_DIR_ENV, DUCKDB_WRITER_POOL, WarehouseResource

class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Groups by folder (staging, intermediate, marts, seeds); sources keep the key [source, table]."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "seed":
            return spec.replace_attributes(group_name="catalog")
        path = props.get("original_file_path", "")
        for folder in ("staging", "intermediate", "marts"):
            if f"models/{folder}/" in path:
                return spec.replace_attributes(group_name=folder)
        return spec

translator = WarehouseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

class DbtBuildConfig(dg.Config):
    """Run config for the dbt assets. `dbt_vars` is YAML, e.g. `{markup_percentage: 30}`: it overrides the pricing
    knobs of dbt_project.yml for this run (and so rewrites the marts with them)."""

    dbt_vars: str = ""

@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=DUCKDB_WRITER_POOL,
)
def warehouse_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
):
    # The dbt subprocess inherits the environment: point its profile at the same warehouse file as the ingest.
    os.environ[DATA_DIR_ENV] = str(warehouse.root)
    args = ["build"]
    if config.dbt_vars.strip():
        args += ["--vars", config.dbt_vars]
    yield from dbt.cli(args, context=context).stream()
