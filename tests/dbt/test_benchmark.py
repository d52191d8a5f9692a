"""The benchmark's floor, polars and pandas scripts implement the warehouse's rules: on ~5,000 generated requests
(hostile lines, duplicates, every pricing dimension) they give the same totals as each other and as the project's
own landing + `dbt build`, to the 12th decimal. (Timings and targets live in `make benchmark` only.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks import floor, pandas_job, polars_job
from tests.benchmarks.generate import ensure_data
from tests.benchmarks.project import differences, project_totals, with_daily_mart

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).parent / "dbt")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return ensure_data(5000, seed=11, out=tmp_path_factory.mktemp("bench") / "data", progress=lambda _: None)


@pytest.fixture(scope="module")
def floor_totals(data) -> dict:
    return floor.run(data / "history")["totals"]


def _script_totals(module, data: Path, tmp_path: Path) -> dict:
    out = tmp_path / f"{module.__name__}.json"
    assert module.main([str(data / "history"), "--out", str(out)]) == 0
    return json.loads(out.read_text())["totals"]


def test_generated_data_exercises_what_the_benchmark_claims(data, floor_totals):
    gateway = data / "history" / "raw" / "gateway"
    names = sorted(p.name for p in gateway.iterdir())
    assert len(names) == 30 and sum(n.endswith(".jsonl.gz") for n in names) == 3
    assert (data / "extra" / "gateway-2026-10-31.jsonl").exists()
    assert (data / "history" / "raw" / "users.csv").read_text().startswith("id,email,created_at,plan\n")
    text = "".join((gateway / n).read_text() for n in names if n.endswith(".jsonl"))
    for needle in ('"service_tier":"batch"', '"service_tier":"flex"', '"service_tier":"scale"', "deepseek/",
                   '"native_tokens_cache_creation_1h"', '"status_code":429', "acme/unknown-model-9", '"usr_0'):
        assert needle in text, needle
    landing = floor_totals["landing"]
    assert landing["lines_read"] == landing["accepted"] + landing["duplicates"] + landing["quarantined"]
    assert landing["duplicates"] > 0 and landing["quarantined"] > 0
    # generation is deterministic by seed
    again = ensure_data(5000, seed=11, out=data.parent / "again", progress=lambda _: None)
    assert (again / "history" / "raw" / "gateway" / names[0]).read_bytes() == (gateway / names[0]).read_bytes()


def test_polars_and_pandas_match_the_floor(data, floor_totals, tmp_path):
    assert differences(floor_totals, _script_totals(polars_job, data, tmp_path)) == []
    assert differences(floor_totals, _script_totals(pandas_job, data, tmp_path)) == []


def test_the_floor_matches_the_projects_landing_and_dbt_build(data, floor_totals, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(data / "history", data_dir)
    env = {**os.environ, "AI_USAGE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
           "DBT_LOG_PATH": str(tmp_path / "dbt-logs")}
    land = (
        "import os\nfrom pathlib import Path\n"
        "from ingest.warehouse import connect, load_gateway_files, load_users\n"
        "data = Path(os.environ['AI_USAGE_DATA_DIR'])\ncon = connect(data / 'warehouse.duckdb')\n"
        "load_gateway_files(con, data, load_id='t')\nload_users(con, data, load_id='t')\ncon.close()\n"
    )
    subprocess.run([sys.executable, "-c", land], env=env, cwd=ROOT, check=True, timeout=120)
    build = subprocess.run([DBT, "build", "--profiles-dir", ".", "--target-path", str(tmp_path / "target")],
                           env=env, cwd=ROOT / "dbt_project", capture_output=True, text=True, timeout=240)
    assert build.returncode == 0, build.stdout[-3000:]
    project = project_totals(data_dir / "warehouse.duckdb")
    assert differences(with_daily_mart(floor_totals), project) == []
    # exact values, not "it ran": the figures this seed gives
    assert project["requests"] == floor_totals["requests"] > 4900
    assert project["revenue_usd"] == floor_totals["revenue_usd"]
    assert len(project["daily"]) == 30
