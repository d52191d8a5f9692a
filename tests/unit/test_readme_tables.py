"""README "How it fits together" lists every table a person reads (issue 11 item 6): each mart that dbt builds (all
but ephemeral ones) has a row in its table, with the question it answers, and the table names no mart that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_tables() -> dict[str, str]:
    """Each table named in the first column of the section's table -> the question it answers."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How it fits together", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {name: cells[2].strip() for cells in rows for name in re.findall(r"`([^`]+)`", cells[0])}


def built_marts() -> set[str]:
    marts = ROOT / "dbt_project" / "models" / "marts"
    return {path.stem for path in marts.rglob("*.sql") if "materialized='ephemeral'" not in path.read_text()}


def test_every_mart_is_listed_with_its_question():
    listed = readme_tables()
    marts = built_marts()
    assert "ai_usage_analytics" in marts and len(marts) >= 20
    assert sorted(marts - listed.keys()) == []
    assert all(len(listed[mart]) > 10 for mart in marts)
    # and nothing listed as a plain (schema main) table that dbt does not build
    plain = {name for name in listed if re.fullmatch(r"[a-z_]+", name)}
    assert sorted(plain - marts) == []
