"""Daily partitions by UTC day of a request's created_at (ingest and request-level models)."""

import dagster as dg

# The first day the warehouse may hold. end_offset=1 makes today's (still filling) day a partition too.
FIRST_DAY = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)
