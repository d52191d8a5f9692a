"""Markdown tables for asset and check metadata (what the Dagster UI shows under a materialization)."""

from collections import Counter
from collections.abc import Iterable, Sequence

import dagster as dg


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; None shows as an empty cell, and a table with no rows says "(none)"."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    body = ["| " + " | ".join("" if value is None else str(value) for value in row) + " |" for row in rows]
    lines += body or ["| (none) |" + " |" * (len(header) - 1)]
    return "\n".join(lines)


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> dg.MetadataValue:
    """`markdown_table` as metadata the Dagster UI renders."""
    return dg.MetadataValue.md(markdown_table(header, rows))


def reasons_table(reasons: Counter) -> dg.MetadataValue:
    """Quarantine reasons and how many lines each, most first."""
    return md_table(("reason", "lines"), reasons.most_common())
