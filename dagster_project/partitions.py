"""Daily partitions by UTC day of a request's created_at (ingest and request-level models)."""

import dagster as dg

from dagster_project.settings import FIRST_DAY

# end_offset=1 makes today's (still filling) day a partition too.
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)
