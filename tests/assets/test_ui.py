"""What the UI shows at first sight (issue 12 item 3): no partitioned asset (so no "missing" days before the first
request), every check described, a run whose checks did not pass tagged so in the runs list, quarantined lines and
held-back requests on their assets' pages."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.definitions import defs
from dagster_project.defs.automation.schedules import materialize_everything
from dagster_project.defs.dbt.assets import _held_back, dbt_test_description
from dagster_project.defs.ingest.files import gateway_log_files
from dagster_project.instance import CHECKS_FAILED_TAG, CHECKS_WARNED_TAG, tag_check_outcomes
from dagster_project.resources import WarehouseResource
from tests.conftest import write_fixture_data

ONE_DAY = {"dagster/asset_partition_range_start": "2026-11-20", "dagster/asset_partition_range_end": "2026-11-21"}


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def test_no_asset_is_partitioned(graph):
    assert [key for key in graph.get_all_asset_keys() if graph.get(key).partitions_def is not None] == []


def test_every_check_has_a_description(graph):
    specs = [spec for assets_def in graph.assets_defs for spec in assets_def.check_specs]
    assert len(specs) > 30  # the dbt tests (one per table: row_checks) and the Dagster checks (the number changes)
    assert [spec.key for spec in specs if not (spec.description or "").strip()] == []
    by_name = {spec.name: spec.description for spec in specs}
    assert by_name["ai_revenue_analytics_row_checks"] == (
        "dbt test: every row meets each condition: date_unique, date_not_null. Otherwise it fails the build "
        "(severity error). SQL: dbt_project/models/marts/billing/_billing__models.yml."
    )
    assert by_name["assert_pricing_dimensions_add_up_to_every_request"] == (  # a singular test: its leading comment
        "dbt test: Each dimension of pricing_dimension_usage adds up to every request of ai_usage_analytics, to the "
        "last decimal. Otherwise it fails the build (severity error). SQL: dbt_project/tests/singular/"
        "assert_pricing_dimensions_add_up_to_every_request.sql.")


def test_a_test_with_its_own_description_keeps_it():
    node = {"description": "Revenue never below cost.", "config": {"severity": "WARN"},
            "original_file_path": "models/x.yml", "test_metadata": {"name": "not_null", "kwargs": {}}}
    assert dbt_test_description(node) == ("dbt test: Revenue never below cost. Otherwise it warns (severity warn). "
                                      "SQL: dbt_project/models/x.yml.")


def test_a_run_whose_checks_did_not_pass_is_tagged_with_their_counts():
    @dg.asset(check_specs=[dg.AssetCheckSpec("warns", asset="thing"), dg.AssetCheckSpec("fails", asset="thing"),
                           dg.AssetCheckSpec("passes", asset="thing")])
    def thing():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="warns", passed=False, severity=dg.AssetCheckSeverity.WARN)
        yield dg.AssetCheckResult(check_name="fails", passed=False, severity=dg.AssetCheckSeverity.ERROR)
        yield dg.AssetCheckResult(check_name="passes", passed=True, severity=dg.AssetCheckSeverity.WARN)

    @dg.asset
    def clean():
        return None

    with dg.instance_for_test() as instance:
        run_id = dg.materialize([thing], instance=instance, raise_on_error=False).run_id
        assert tag_check_outcomes(instance, run_id) == {CHECKS_WARNED_TAG: "1", CHECKS_FAILED_TAG: "1"}
        assert instance.get_run_by_id(run_id).tags[CHECKS_WARNED_TAG] == "1"
        clean_id = dg.materialize([clean], instance=instance).run_id
        assert tag_check_outcomes(instance, clean_id) == {}
        assert CHECKS_WARNED_TAG not in instance.get_run_by_id(clean_id).tags


def test_quarantined_lines_are_previewed_on_the_quarantine_asset(tmp_path: Path):
    data_dir = write_fixture_data(tmp_path)
    with dg.instance_for_test() as instance:
        result = dg.materialize([gateway_log_files], instance=instance, tags=ONE_DAY,
                                resources={"warehouse": WarehouseResource(data_dir=str(data_dir))})
        quarantine = instance.get_latest_materialization_event(dg.AssetKey(["raw", "quarantine"]))
        requests = instance.get_latest_materialization_event(dg.AssetKey(["raw", "gateway_requests"]))
    metadata = quarantine.asset_materialization.metadata
    assert metadata["table"].value == "raw.quarantine"
    assert metadata["new_this_run"].value == 3
    preview = metadata["preview_this_run"].value.splitlines()
    assert preview[0] == "| source | line | reason | field | detail |"
    assert [row.split(" | ")[:4] for row in preview[2:]] == [
        ["| raw/gateway/2026-11-20.jsonl", "7", "not_json", ""],
        ["| raw/gateway/2026-11-21.jsonl.gz", "4", "conflicting_duplicate", "id"],
        ["| raw/gateway/2026-11-21.jsonl.gz", "5", "negative_tokens", "native_tokens_prompt"],
    ]
    assert metadata["query"].value.endswith(f"where load_id = '{result.run_id}'")
    days = requests.asset_materialization.metadata
    assert days["run_days"].value == "2026-11-20..2026-11-21"
    assert days["days_landed"].value.splitlines()[2:] == ["| 2026-11-20 | 7 |", "| 2026-11-21 | 4 |"]


def test_held_back_requests_are_observed_on_unpriced_requests(built_warehouse: Path, tmp_path: Path):
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")  # the shared one stays as it is
    observation = _held_back(WarehouseResource(data_dir=str(tmp_path)))
    assert observation.asset_key == dg.AssetKey("unpriced_requests")
    assert observation.metadata["held_back_requests"].value == 1
    assert observation.metadata["table"].value == "main.unpriced_requests"
    assert observation.metadata["preview"].value.splitlines()[2].startswith("| g06 | ")
    assert "acme/mystery-model" in observation.metadata["by_model"].value


def test_runs_under_dagster_dev_print_a_few_lines_and_log_the_rest_to_a_file_they_name(tmp_path, monkeypatch, capsys):
    from dagster_project import progress

    assert defs.loggers == {"console": progress.progress_logger}  # every job of the code location logs through it
    assert materialize_everything.config == {"loggers": {"console": {}}}  # and its runs use it without run config
    monkeypatch.setenv("AI_USAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(progress, "terminal", None)

    @dg.op
    def land(context):
        context.log.info("gateway files: 2 landed")
        context.log.debug("a detail for the file only")

    @dg.job(logger_defs={"console": progress.progress_logger}, config={"loggers": {"console": {}}})
    def job():
        land()

    result = job.execute_in_process()  # no run config: as the sensor's and the schedule's runs
    log_file = tmp_path / "logs" / f"run-{result.run_id}.log"
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert out == [f"run {result.run_id[:8]}: the full log is {log_file}",
                   f"run {result.run_id[:8]}:   land: gateway files: 2 landed"]
    text = log_file.read_text()
    assert text.count("a detail for the file only") == 1 and "STEP_SUCCESS" in text
    assert "land: " in text and " CPU s, " in text  # each step's cost
