"""Days and partition ranges, without importing Dagster: `python -m dagster_project.run` decides from these whether
there is anything to do before it pays for starting Dagster and dbt (defs/automation/schedules.py and partitions.py
re-export them). The data directory is defined in ingest/settings.py."""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

# The data directory and its paths are defined once, in ingest/settings.py (ingest, Dagster and dbt use it); the
# run path (dagster_project/run.py) imports these two from here.
from ingest.settings import PROJECT_ROOT, default_data_dir  # noqa: F401 - re-exported

# dbt's unit tests check the SQL, not the data: CI runs them (tests/dbt/test_dbt_unit_tests.py), a production run (the
# Dagster dbt asset, and the benchmark's measure of it) does not.
DBT_PRODUCTION_EXCLUDES = ["--exclude-resource-type", "unit_test"]

# The first day the warehouse may hold (the daily partitions start here).
FIRST_DAY = "2025-01-01"
LOOKBACK_ENV = "AI_USAGE_LOOKBACK_DAYS"
DEFAULT_LOOKBACK_DAYS = 2


def partition_range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the daily partitions first..last (inclusive), clamped to the calendar."""
    today = datetime.now(timezone.utc).date()
    first = max(first, date.fromisoformat(FIRST_DAY))
    last = min(max(last, first), today)
    first = min(first, last)
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def lookback_days() -> int:
    """$AI_USAGE_LOOKBACK_DAYS (default 2): how many days before yesterday the daily run re-pulls and rebuilds."""
    raw = os.environ.get(LOOKBACK_ENV, "").strip() or str(DEFAULT_LOOKBACK_DAYS)
    if not raw.isdigit() or int(raw) > 60:
        raise ValueError(f"{LOOKBACK_ENV}={raw!r}: set it to a whole number of days between 0 and 60")
    return int(raw)
