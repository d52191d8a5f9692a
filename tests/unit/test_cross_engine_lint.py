"""The dbt project runs on DuckDB and on Spark (README "Running on Spark"): every engine difference lives in
dbt_project/macros/cross_engine.sql. A DuckDB-only spelling anywhere else in the models, macros, tests or the
models' YAML fails here, with the file, the line and the spelling to use instead."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DBT = ROOT / "dbt_project"
ENGINE_FILE = DBT / "macros" / "cross_engine.sql"
# DuckDB's own view materialization (`{% materialization view, adapter='duckdb' %}`): Spark never runs it
DUCKDB_ONLY_FILES = {ENGINE_FILE, DBT / "macros" / "views.sql"}

# DuckDB-only spelling -> what to write instead (both engines, or a macro of cross_engine.sql)
DUCKDB_ONLY = {
    r"\bhugeint\b": "{{ int128() }}",
    r"::": "cast(x as type)",
    r"//": "{{ floor_div(a, b) }}",
    r"\*\s*exclude\s*\(": "* except (...)",
    r"\bnot\s+materialized\b": "{{ cte_inlined() }}",
    r"\barg_max\s*\(": "max_by(...)",
    r"\barg_min\s*\(": "min_by(...)",
    r"\bstring_agg\s*\(": "{{ ordered_string_agg(expr, separator, order_by) }}",
    r"\bstrftime\s*\(": "{{ year_month(x) }} (or a new macro in cross_engine.sql)",
    r"\bstrptime\s*\(": "cast(period_month || '-01' as date) (or a new macro in cross_engine.sql)",
    r"\bepoch\s*\(": "{{ time_seconds(x) }}",
    r"\btimezone\s*\(": "{{ utc_to_local(ts, zone) }}",
    r"\bat\s+time\s+zone\b": "{{ utc_to_local(ts, zone) }}",
    r"\bunion\s+(all\s+)?by\s+name\b": "union all with the same columns in the same order",
    r"\bprintf\s*\(": "casts of exact decimals",
    r"\bvarchar\b": "string",
    r"\blen\s*\(": "a macro of cross_engine.sql",
    r"\bgenerate_series\s*\(|\bunnest\s*\(": "{{ day_series(start, end) }}",
    r"\bas\s+timestamptz\b": "{{ timestamptz() }}",
}


def _code(text: str) -> str:
    """The SQL and Jinja of a file without its comments (Jinja {# #}, SQL --), line numbers kept."""
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)
    return "\n".join(line.split("--", 1)[0] if not line.lstrip().startswith("#") else "" for line in text.split("\n"))


def _yaml_code(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.split("\n"))


def findings(path: Path, text: str) -> list[str]:
    code = _yaml_code(text) if path.suffix == ".yml" else _code(text)
    found = []
    for number, line in enumerate(code.split("\n"), start=1):
        for pattern, instead in DUCKDB_ONLY.items():
            if path.suffix == ".yml" and not line.strip().startswith(("data_type", "- {name")):
                continue
            match = re.search(pattern, line, flags=re.IGNORECASE)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} is DuckDB-only; use {instead}")
    return found


def _project_files() -> list[Path]:
    files = [*DBT.glob("models/**/*.sql"), *DBT.glob("models/**/*.yml"), *DBT.glob("macros/**/*.sql"),
             *DBT.glob("tests/**/*.sql")]
    return sorted(path for path in files if path not in DUCKDB_ONLY_FILES)


def test_no_duckdb_only_spelling_outside_the_engine_macros():
    files = _project_files()
    assert len(files) > 40
    problems = [problem for path in files for problem in findings(path, path.read_text())]
    assert problems == []


def test_the_lint_finds_each_spelling_and_ignores_comments():
    path = DBT / "models" / "example.sql"
    text = "\n".join([
        "select cast(x as hugeint), a // b, y::date,",
        "    * exclude (z), arg_max(a, b), string_agg(a, ',' order by a)",
        "-- a comment may say hugeint or a // b",
        "{# so may a Jinja comment: strftime(x) #}",
        "from t union all by name select timezone('UTC', x), cast(q as varchar)",
    ])
    found = findings(path, text)
    assert [problem.split(": ", 1)[1].split("; ")[0] for problem in found] == [
        "'hugeint' is DuckDB-only", "'::' is DuckDB-only", "'//' is DuckDB-only", "'* exclude (' is DuckDB-only",
        "'arg_max(' is DuckDB-only", "'string_agg(' is DuckDB-only", "'timezone(' is DuckDB-only",
        "'union all by name' is DuckDB-only", "'varchar' is DuckDB-only",
    ]
    assert all(problem.startswith("dbt_project/models/example.sql:") for problem in found)
    assert found[0].endswith("; use {{ int128() }}")
    assert [problem.split(":")[1] for problem in found] == ["1", "1", "1", "2", "2", "2", "5", "5", "5"]


def test_the_engine_file_holds_the_duckdb_spellings():
    # the macros the lint points to exist, each with a DuckDB and a Spark version
    text = ENGINE_FILE.read_text()
    for macro in ("int128", "floor_div", "ordered_string_agg", "utc_to_local", "year_month", "time_seconds",
                  "cte_inlined", "days_between", "incremental_materialization", "register_raw_sources",
                  "utc_instant", "instant_to_local", "timestamptz", "day_series"):
        assert f"macro default__{macro}(" in text and f"macro spark__{macro}(" in text, macro
