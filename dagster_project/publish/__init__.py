"""What the business reads: finance exports, the HTML spending report and billing-alert webhooks.

Plain Python with no Dagster imports, like `ingest/`, so each piece is testable alone; the thin assets in
`dagster_project/defs/publish/assets.py` call it. It lives under `dagster_project/` rather than `ingest/` because it is
output plumbing at the far end of the flow (it reads the marts and writes files or HTTP requests), not ingest: the
top level is fixed by the house style and nothing here lands raw data. The business logic (what a crossing is,
what a month's revenue is) stays in dbt; this package only moves finished tables out.
"""
