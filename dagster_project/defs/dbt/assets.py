"""The dbt models as Dagster assets: `dbt build` streamed, so dbt tests show up as asset checks."""

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.defs.ingest.gateway_api import GATEWAY_API_PULL
from dagster_project.metadata import markdown_table
from dagster_project.project import dbt_project
from dagster_project.resources import DUCKDB_WRITER_POOL, WarehouseResource, wait_for_write_lock
from dagster_project.settings import DBT_PRODUCTION_EXCLUDES


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Groups by folder (staging, intermediate, marts and its subfolders, seeds) unless dbt sets meta.dagster.group;
    sources keep the key [source, table]."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "seed":
            return spec.replace_attributes(group_name="catalog")
        if props["name"] == "stg_raw__gateway_requests":
            # raw.gateway_requests is filled from two places: the drop-zone files (the dbt source's own asset)
            # and the gateway logs API pull.
            spec = spec.merge_attributes(deps=[GATEWAY_API_PULL])
        if (props.get("config", {}).get("meta") or props.get("meta") or {}).get("dagster", {}).get("group"):
            return spec  # a group set in dbt (meta.dagster.group: the projections of marts/planning) wins
        path = props.get("original_file_path", "")
        for folder in ("staging", "intermediate", "marts"):
            if f"models/{folder}/" in path:
                return spec.replace_attributes(group_name=folder)
        return spec

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """dbt tests as asset checks, each with a description (dagster-dbt leaves it empty unless the test has one):
        what the test asserts, from its name and arguments, or a singular test's leading comment; its severity."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=dbt_test_description(manifest["nodes"].get(unique_id) or {}))


GENERIC_TESTS = {  # what each generic test asserts, from its arguments
    "not_null": "no row has a null `{column_name}`",
    "unique": "`{column_name}` is unique: no value appears twice",
    "non_negative": "no row has a negative `{column_name}`",
    "accepted_values": "`{column_name}` is one of {values}",
    "not_greater_than": "no row has `{column_name}` greater than `{other_column}`",
    "unique_combination_of_columns": "no two rows share ({combination_of_columns})",
    "contiguous_validity": "the validity ranges (`{valid_from}`..`{valid_to}`) of each `{column_name}` follow each "
                           "other with no gap and no overlap",
    "row_checks": "every row meets each condition: {checks}",
    "has_no_rows": "the table is empty: any row is something to act on",
    "relationships": "every `{column_name}` is found in `{field}` of {to}",
}


def dbt_test_description(node: Mapping[str, Any]) -> str:
    """A dbt test's description: its own, else what it asserts (GENERIC_TESTS, or the leading `--` comment of a
    singular test), with its severity and where its SQL lives."""
    severity = str((node.get("config") or {}).get("severity") or "error").lower()
    where = node.get("original_file_path", "")
    meta = node.get("test_metadata") or {}
    if node.get("description"):
        what = node["description"]
    elif meta.get("name") in GENERIC_TESTS:
        kwargs = {key: (", ".join(f"`{v}`" for v in value) if isinstance(value, list)
                        else ", ".join(value) if isinstance(value, dict) else value)
                  for key, value in (meta.get("kwargs") or {}).items()}
        try:
            what = GENERIC_TESTS[meta["name"]].format(**kwargs)
        except (KeyError, IndexError):
            what = f"dbt test {meta['name']} with {meta.get('kwargs')}"
    elif meta.get("name"):
        what = f"dbt test {meta['name']} with {meta.get('kwargs')}"
    else:
        comment = []
        for line in (node.get("raw_code") or "").splitlines():
            if not line.startswith("--"):
                break
            comment.append(line.removeprefix("--").strip())
        what = " ".join(comment) or f"the rows that {node.get('name', 'this test')} selects must not exist"
    kind = "warns" if severity == "warn" else "fails the build"
    return f"dbt test: {what.rstrip('.')}. Otherwise it {kind} (severity {severity}). SQL: dbt_project/{where}."


translator = WarehouseDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

class DbtBuildConfig(dg.Config):
    """Run config for the dbt assets.

    `dbt_vars` is YAML, e.g. `{markup_percentage: 30}`: it overrides the knobs of dbt_project.yml for this run, and
    so rewrites the marts with them. `full_refresh` rebuilds the incremental models from scratch (never needed for
    correctness: a changed knob or catalog re-prices everything by itself).
    """

    dbt_vars: str = ""
    full_refresh: bool = False




def _wait_until_writable(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    """dbt opens the file itself and fails at once if a reader (a DuckDB client someone left open) holds it: wait,
    bounded, until a write connection can be opened (and closed) here. A race remains: a reader that opens the file
    between this check and dbt's own open, a few seconds later once dbt has parsed, still fails the step (the
    profile's dbt-duckdb `retries: {connect_attempts: N}` would cover that moment too)."""
    wait_for_write_lock(warehouse.path, log=context.log.warning)


def _build_args(config: DbtBuildConfig, data_dir: Path) -> list[str]:
    """`dbt build` without unit tests, given the data directory explicitly (the var `data_dir` that
    dbt_project/profiles.yml reads). No per-run vars (only what run config asks for): vars that change from run to
    run would invalidate dbt's partial parse (the data directory is the same every run), and the models price what
    is new by their own watermark. A test runs only when every model it reads is built by the run: the project flag
    `indirect_selection: buildable` (dbt_project.yml)."""
    dbt_vars = yaml.safe_load(config.dbt_vars) if config.dbt_vars.strip() else {}
    if not isinstance(dbt_vars, dict):
        raise dg.Failure(
            f"run config dbt_vars must be a YAML mapping like '{{markup_percentage: 30}}', got {config.dbt_vars!r}"
        )
    args = ["build", *DBT_PRODUCTION_EXCLUDES, "--vars", json.dumps({**dbt_vars, "data_dir": str(data_dir)})]
    if config.full_refresh:
        args.append("--full-refresh")
    return args


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=DUCKDB_WRITER_POOL,
    name="warehouse_dbt_models",
)
def warehouse_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
):
    """Every dbt model, seed and data test in one `dbt build` (one dbt start per run).

    Not partitioned: the incremental models price what is new or changed since their last run (new requests, late
    ones, held-back ones that now have a price, everything after a knob or catalog change), whatever days the run
    covers; the days of a run are the ingest's partitions. To re-price given days by hand:
    `dbt build --vars '{partition_start: ..., partition_end: ...}'` (macros/incremental.sql)."""
    _wait_until_writable(context, warehouse)
    invocation = dbt.cli(_build_args(config, warehouse.root), context=context)
    yield from invocation.stream()
    _keep_partial_parse(invocation.target_path, context)
    if HELD_BACK in context.selected_asset_keys and warehouse.path.exists():
        yield _held_back(warehouse)


HELD_BACK = dg.AssetKey("unpriced_requests")
PREVIEW_ROWS = 10


def _held_back(warehouse: WarehouseResource) -> dg.AssetObservation:
    """The requests held back for want of a catalog price, on the page of `unpriced_requests`: how many, per model,
    and the first rows (read once dbt has finished and let go of the file)."""
    with warehouse.connect(read_only=True) as con:
        total = con.execute("select count(*) from unpriced_requests").fetchone()[0]
        models = con.execute(
            "select model, count(*), min(created_at), max(created_at) from unpriced_requests group by 1 "
            "order by 2 desc, 1 limit 20"
        ).fetchall()
        rows = con.execute(
            "select request_id, user_id, model, created_at, source, source_line from unpriced_requests "
            f"order by created_at, request_id limit {PREVIEW_ROWS}"
        ).fetchall()
    return dg.AssetObservation(
        asset_key=HELD_BACK,
        description=f"{total:,} requests held back (not billed) until the catalog has a price for their model",
        metadata={
            "held_back_requests": total,
            "table": "main.unpriced_requests",
            "by_model": dg.MetadataValue.md(markdown_table(("model", "requests", "first", "last"), models)),
            "preview": dg.MetadataValue.md(markdown_table(
                ("request_id", "user_id", "model", "created_at", "source", "line"), rows)),
        },
    )


KEEP_TARGETS = 5  # the last dbt invocations' target folders (dbt.log, run_results.json) kept in dbt_project/target


def _keep_partial_parse(target_path: Path, context: dg.AssetExecutionContext) -> None:
    """dagster-dbt runs dbt in a target folder of its own per invocation, seeded with the project's
    `target/partial_parse.msgpack`; when dbt had to parse again (another data directory or memory limit in the
    profile, a changed model), the new parse stays in that folder. Put it back, so that the next run starts from
    it, and drop the target folders of older invocations."""
    parsed = target_path / "partial_parse.msgpack"
    kept = Path(dbt_project.project_dir) / "target" / "partial_parse.msgpack"
    try:
        if parsed.exists() and (not kept.exists() or parsed.read_bytes() != kept.read_bytes()):
            tmp = kept.with_name(f".{kept.name}.{os.getpid()}.tmp")
            shutil.copyfile(parsed, tmp)
            os.replace(tmp, kept)
        folders = sorted(target_path.parent.glob("warehouse_dbt_models-*"), key=lambda path: path.stat().st_mtime)
        for old in folders[:-KEEP_TARGETS]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as error:  # a cache: the next run parses again, nothing else
        context.log.warning(f"could not keep dbt's partial parse for the next run: {error}")
