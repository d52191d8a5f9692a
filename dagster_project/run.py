"""`python -m dagster_project.run` (what `make run` calls): materialize every asset over the days in the drop zone.

One run covers the daily partitions from the first day found in the log files (the first dated line of each file:
bounded, and earlier lines further down land and are priced all the same) to today, recorded in the Dagster
instance of $DAGSTER_HOME so that `make dev` shows it. `--from DAY --to DAY` backfills a range of days instead.

Before it launches, and every 30 seconds while its run waits for the writer slot, runs of the instance whose process
died without finishing (killed, out of memory, a reboot) are marked failed and their slot freed
(`dagster_project/dead_runs.py`): a killed run never blocks the next one.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone

import dagster as dg

from dagster_project.dead_runs import process_tags, recover_dead_runs, watching_for_dead_runs
from dagster_project.definitions import defs
from dagster_project.resources import default_data_dir
from dagster_project.schedules import materialize_everything, partition_range_tags
from ingest.drop_zone import first_day
from ingest.files import gateway_dir, scan_drop_zone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, help="last UTC day (default: today)")
    args = parser.parse_args(argv)
    data_dir = default_data_dir()
    today = datetime.now(timezone.utc).date()
    listing = scan_drop_zone(gateway_dir(data_dir))
    files = listing.files
    first = args.first or min({first_day(path) for path in files} - {None} | {today})
    tags = partition_range_tags(first, args.last or today)
    print(f"materializing every asset for {tags['dagster/asset_partition_range_start']}.."
          f"{tags['dagster/asset_partition_range_end']} ({len(files)} log files in {gateway_dir(data_dir)})",
          flush=True)
    if listing.refused or listing.near_misses:
        print(f"not loaded: {len(listing.refused)} refused and {len(listing.near_misses)} near-miss entries in the "
              "drop zone (the ingest step's log names them; table raw.drop_zone_refusals)", flush=True)
    result = execute(tags)
    if not result.success:
        failed = [event.step_key for event in result.all_events if event.is_step_failure]
        print(f"the run failed in {failed}: see the log above, or `make dev` -> Runs", file=sys.stderr)
        return 1
    return 0


def execute(tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    """The job in this process, in the instance of $DAGSTER_HOME, after clearing runs that died without finishing;
    the run is tagged with this process so that a later run can tell whether it is still alive."""
    job = defs.resolve_job_def(materialize_everything.name)
    with dg.DagsterInstance.get() as instance:
        recover_dead_runs(instance, log=_say)
        with watching_for_dead_runs(log=_say):
            return job.execute_in_process(instance=instance, tags={**tags, **process_tags()}, raise_on_error=False)


def _say(message: str) -> None:
    print(message, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
