"""A fixed "today" for a copy of the warehouse: the finance and reporting marts are views that read the clock in one
place, the view finance_as_of (they name it main.finance_as_of), so replacing it fixes the running month and the
partial day."""

import duckdb


def fix_as_of(con: duckdb.DuckDBPyConnection, day: str) -> None:
    """Make the marts of the warehouse `con` (a copy) read `day` (YYYY-MM-DD, noon UTC) as now."""
    con.execute(f"""
        create or replace view main.finance_as_of as
        select cast(timestamptz '{day} 12:00:00+00' as timestamptz) as as_of_at, date '{day}' as as_of_date,
               strftime(date '{day}', '%Y-%m') as running_month, date '{day}' as reporting_date
    """)
