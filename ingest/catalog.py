"""The model catalog, generated from `genai-prices` (its bundled data, never the network) and the platform's overrides.

``make catalog`` (``python -m ingest.catalog``) writes two dbt seeds and prints what changed against the committed
ones (added, removed, re-priced rows) for review:

* ``dbt_project/seeds/model_prices.csv``: one row per price cell: model, validity range (UTC days, ``valid_from``
  inclusive, ``valid_to`` exclusive), service tier, time-of-day window and long-context tier. Every row names its
  source (``genai-prices <version>`` and the source's own ``provider/model``) or the override's reason.
* ``dbt_project/seeds/model_aliases.csv``: names the logs use -> catalog ids (the platform's own names from
  ``model_alias_overrides.csv``, and the source's exact aliases such as ``mistral-large-latest``).

The hand-kept inputs are ``model_price_overrides.csv`` (prices the source lacks or that the platform decided, each
with its reason) and ``model_alias_overrides.csv``. ``python -m ingest.catalog --check`` fails when the committed
seeds differ from what the pinned source and the overrides generate (tests/dbt/test_catalog.py runs it), so a package
upgrade never changes a bill by itself.

How a source model becomes rows: its prices are evaluated with the source's own resolution
(``ModelInfo.get_prices``) in every cell of a grid whose edges are every date the source names (price changes,
variants that start on a day), every time of day its off-peak windows start or end, every service tier it has a
price variant for, and every long-context threshold; equal neighbouring cells are merged. The engine
(``int_requests_priced``) then picks, for a request, the row of its model and day whose window holds its time,
whose tier is its service tier (else ``any``) and whose threshold is the highest one below its input tokens.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS = REPO_ROOT / "dbt_project" / "seeds"
PRICES_CSV = SEEDS / "model_prices.csv"
ALIASES_CSV = SEEDS / "model_aliases.csv"
OVERRIDES_CSV = SEEDS / "model_price_overrides.csv"
ALIAS_OVERRIDES_CSV = SEEDS / "model_alias_overrides.csv"

SOURCE_PACKAGE = "genai-prices"
# The providers of the platform, as the source names them.
PROVIDERS = ("openai", "anthropic", "google", "x-ai", "meta", "mistral", "cohere", "deepseek", "groq", "azure")
# Requests are never older than the log contract allows (ingest/contract.py EARLIEST_TIMESTAMP): the first
# validity day of a source price that has no start date.
FLOOR_DATE = date(2000, 1, 1)
ANY_TIER = "any"
# Price keys of the source -> catalog columns. A request's tokens go to the most specific priced column (a missing
# price means the parent's: cache-write 1h -> cache write -> input; cache read -> input; reasoning -> output).
PRICE_COLUMNS = {
    "input_mtok": "input_price_per_1m_usd",
    "output_mtok": "output_price_per_1m_usd",
    "cache_read_mtok": "cache_read_price_per_1m_usd",
    "cache_write_mtok": "cache_write_price_per_1m_usd",
    "cache_write_1h_mtok": "cache_write_1h_price_per_1m_usd",
    "output_reasoning_mtok": "reasoning_price_per_1m_usd",
}
# Prices of things the gateway log does not count (audio, images, video, searches, pages, characters): they apply
# only to usage the platform never reports, so they cannot change a bill here and are left out (named in `note`).
IGNORED_KEY_PARTS = ("audio", "image", "video", "_kcount", "_hours", "_kpages", "mchars")
MAX_PRICE_DECIMALS = 12

HEADER = (
    "model", "provider", "display_name", "tier", "service_tier", "window_start", "window_end", "window_timezone",
    "input_tokens_above", *PRICE_COLUMNS.values(), "valid_from", "valid_to", "price_source", "source_model", "note",
)
ALIAS_HEADER = ("alias", "model", "valid_from", "note")
OVERRIDE_HEADER = (
    "model", "provider", "display_name", "tier", *PRICE_COLUMNS.values(), "valid_from", "valid_to", "reason",
)
ALIAS_OVERRIDE_HEADER = ("alias", "model", "valid_from", "reason")


def price_context(service_tier: str | None) -> dict[str, str]:
    """The source's price context for a request's `service_tier` (absent = default). The source files Batch API
    prices under ``processing: batch`` and every other tier under ``service_tier``."""
    tier = service_tier or "default"
    return {"processing": "batch"} if tier == "batch" else {"service_tier": tier}


def _tier_of_variant(when: Mapping[str, str]) -> str | None:
    """The log's service_tier that selects a price variant, or None when no log value can (e.g. `speed: fast`)."""
    if dict(when) == {"processing": "batch"}:
        return "batch"
    if set(when) == {"service_tier"}:
        return when["service_tier"]
    return None


def source_version() -> str:
    return version(SOURCE_PACKAGE)


# --- reading and writing ----------------------------------------------------------------------------------------

def read_csv(path: Path, header: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a seed, checked against its header (the error names the file and what to do)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != header:
            raise ValueError(f"{path}: header {reader.fieldnames} differs from the expected {list(header)}")
        rows = []
        for line, row in enumerate(reader, start=2):
            if None in row or any(v is None for v in row.values()):
                raise ValueError(f"{path}, line {line}: wrong number of fields")
            rows.append({k: v.strip() for k, v in row.items()})
        return rows


def render_csv(rows: Iterable[Mapping[str, str]], header: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def fmt_price(value: Decimal | None, where: str) -> str:
    if value is None:
        return ""
    if not value.is_finite() or value < 0:
        raise ValueError(f"{where}: price {value} is not a finite non-negative number")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PRICE_DECIMALS:
        raise ValueError(f"{where}: price {value} has more than {MAX_PRICE_DECIMALS} decimals (the seed's scale)")
    text = format(value.normalize(), "f")
    return text


def guide_tier(provider: str, input_price: Decimal | None) -> str:
    """The platform guide's tier for a source model: groq is `speed`; by input price per 1M tokens, below 0.10 is
    `speed`, 2.00 and more `power_users`, the rest `most_users`."""
    if provider == "groq" or (input_price is not None and input_price < Decimal("0.10")):
        return "speed"
    if input_price is not None and input_price >= Decimal("2"):
        return "power_users"
    return "most_users"


# --- the source -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceModel:
    catalog_id: str  # provider/model as the platform sees it
    provider: object  # genai_prices.types.Provider the request goes to
    model: object  # genai_prices.types.ModelInfo that prices it

    @property
    def is_own(self) -> bool:
        return any(m is self.model for m in self.provider.models)

    @property
    def source_model(self) -> str:
        if self.is_own:
            return f"{self.provider.id}/{self.model.id}"
        owner = _owner_of(self.model)
        return f"{owner}/{self.model.id} (via {self.provider.id})"


def _providers() -> list:
    from genai_prices.data import providers

    return providers


def _owner_of(model) -> str:
    for provider in _providers():
        if any(m is model for m in provider.models):
            return provider.id
    raise ValueError(f"genai-prices model {model.id!r} belongs to no provider")


def _standard_prices(model):
    from genai_prices import types

    return model.prices if isinstance(model.prices, types.ModelPrice) else model.prices[-1].prices


def _is_text_model(model) -> bool:
    """A model with token prices for input and output (chat/completion), in every price of its history."""
    from genai_prices import types

    prices = [model.prices] if isinstance(model.prices, types.ModelPrice) else [c.prices for c in model.prices]
    return all(p.input_mtok is not None and p.output_mtok is not None for p in prices)


def source_models(extra_ids: Iterable[str] = ()) -> list[SourceModel]:
    """Every text model of the platform's providers, plus the ids in `extra_ids` (named by an override or alias)
    that the source prices through a provider's fallback (Azure serving OpenAI's models)."""
    from genai_prices.data_snapshot import get_snapshot

    by_id: dict[str, SourceModel] = {}
    for provider in _providers():
        if provider.id not in PROVIDERS:
            continue
        for model in provider.models:
            if _is_text_model(model):
                by_id.setdefault(f"{provider.id}/{model.id}", SourceModel(f"{provider.id}/{model.id}", provider, model))
    snapshot = get_snapshot()
    for catalog_id in extra_ids:
        provider_id, _, name = catalog_id.partition("/")
        if catalog_id in by_id or provider_id not in PROVIDERS:
            continue
        try:
            provider, model = snapshot.find_provider_model(name, None, provider_id, None)
        except LookupError:
            continue
        if model.id == name and _is_text_model(model):  # exact ids only: the source's prefix matches can mislead
            by_id[catalog_id] = SourceModel(catalog_id, provider, model)
    return [by_id[k] for k in sorted(by_id)]


def _dates_of(model) -> list[date]:
    from genai_prices import types

    dates = set()
    conditions = model.prices if isinstance(model.prices, list) else []
    for c in conditions:
        if isinstance(c.constraint, types.StartDateConstraint):
            dates.add(c.constraint.start_date)
    for v in model.price_variants or []:
        if isinstance(v.constraint, types.StartDateConstraint):
            dates.add(v.constraint.start_date)
        elif v.constraint is not None:
            raise ValueError(f"{model.id}: a price variant with a {type(v.constraint).__name__} is not supported")
    return sorted(d for d in dates if d > FLOOR_DATE)


def _utc_time(value: time) -> time:
    if value.tzinfo is None:
        return value
    return datetime.combine(date(1970, 1, 1), value).astimezone(UTC).time()


def _window_edges(model) -> list[time]:
    from genai_prices import types

    edges = {time(0, 0)}
    for c in model.prices if isinstance(model.prices, list) else []:
        if isinstance(c.constraint, types.TimeOfDateConstraint):
            edges.add(_utc_time(c.constraint.start_time))
            edges.add(_utc_time(c.constraint.end_time))
    return sorted(edges)


def _tiers_of(sm: SourceModel) -> list[str]:
    """`any` (every tier without a price of its own) and each log service_tier with a price variant."""
    tiers = {ANY_TIER}
    if sm.is_own:  # the source ignores a fallback model's variants
        for v in sm.model.price_variants or []:
            tier = _tier_of_variant(v.when)
            if tier is not None:
                tiers.add(tier)
    return sorted(tiers, key=lambda t: (t != ANY_TIER, t))


def _resolved(sm: SourceModel, at: datetime, tier: str):
    """The source's prices for a request at `at` in `tier`, as its calc_price resolves them."""
    if tier == ANY_TIER or not sm.is_own:
        return sm.model.get_prices(at)
    return sm.model.get_prices(at, price_context(tier))


def _thresholds(prices) -> set[int]:
    from genai_prices import types

    return {t.start for v in prices.__dict__.values() if isinstance(v, types.TieredPrices) for t in v.tiers}


def _flat(prices, above: int | None, where: str) -> tuple[tuple[str, str], ...]:
    """The prices of one long-context band (input tokens > `above`, or the base band when None), by column."""
    from genai_prices import types

    cells = []
    for key, value in prices.__dict__.items():
        if value is None or key.startswith("_"):
            continue
        if key not in PRICE_COLUMNS:
            if any(part in key for part in IGNORED_KEY_PARTS):
                continue
            raise ValueError(f"{where}: price key {key!r} is not modelled; teach the engine or leave the model out")
        if isinstance(value, types.TieredPrices):
            price = value.base
            for tier in value.tiers:  # the source's rule: input tokens > start selects the tier
                if above is not None and above >= tier.start:
                    price = tier.price
        else:
            price = value
        cells.append((PRICE_COLUMNS[key], fmt_price(price, f"{where} {key}")))
    return tuple(sorted(cells))


def _ignored_keys(model) -> list[str]:
    from genai_prices import types

    prices = [model.prices] if isinstance(model.prices, types.ModelPrice) else [c.prices for c in model.prices]
    prices += [v.prices for v in model.price_variants or []]
    return sorted({k for p in prices for k, v in p.__dict__.items() if v is not None and k not in PRICE_COLUMNS})


def _fmt_time(value: time) -> str:
    return value.strftime("%H:%M:%S")


def _period_cells(sm: SourceModel, start: date) -> list[dict[str, str]]:
    """The price cells of one period (no date edge inside it) starting on `start`."""
    edges = _window_edges(sm.model)
    tiers = _tiers_of(sm)
    where = sm.source_model
    # windows x tiers -> resolved prices
    resolved = {
        (edge, tier): _resolved(sm, datetime.combine(start, edge, tzinfo=UTC), tier)
        for edge in edges for tier in tiers
    }
    thresholds = sorted(set().union(*(_thresholds(p) for p in resolved.values())))
    bands = [None, *thresholds]
    grid = {
        (edge, tier): tuple(_flat(resolved[edge, tier], band, where) for band in bands)
        for edge in edges for tier in tiers
    }
    # a tier's rows are kept only where they differ from `any` somewhere (then in full, so the engine's fallback
    # to `any` never mixes a tier's window with another's)
    kept_tiers = [t for t in tiers if t == ANY_TIER or any(grid[e, t] != grid[e, ANY_TIER] for e in edges)]
    # merge neighbouring windows (cyclically) whose prices are equal in every kept tier
    def signature(edge: time) -> tuple:
        return tuple(grid[edge, t] for t in kept_tiers)

    windows: list[tuple[time, time]] = []
    starts = [e for i, e in enumerate(edges) if signature(e) != signature(edges[i - 1])]
    if not starts:
        windows = [(None, None)]
    else:
        for i, s in enumerate(starts):
            windows.append((s, starts[(i + 1) % len(starts)]))
    rows = []
    for tier in kept_tiers:
        for w_start, w_end in windows:
            edge = w_start if w_start is not None else edges[0]
            for band, cells in zip(bands, grid[edge, tier], strict=True):
                rows.append({
                    "service_tier": tier,
                    "window_start": _fmt_time(w_start) if w_start is not None else "",
                    "window_end": _fmt_time(w_end) if w_end is not None else "",
                    "window_timezone": "UTC" if w_start is not None else "",
                    "input_tokens_above": "" if band is None else str(band),
                    **{col: "" for col in PRICE_COLUMNS.values()},
                    **dict(cells),
                })
    return rows


def source_rows(sm: SourceModel, version_text: str, *, not_before: date | None = None) -> list[dict[str, str]]:
    """The catalog rows of a source model: one period per run of days with equal cells."""
    start = not_before or FLOOR_DATE
    dates = [d for d in _dates_of(sm.model) if d > start]
    periods: list[tuple[date, date | None, list[dict]]] = []
    for i, d in enumerate([start, *dates]):
        end = dates[i] if i < len(dates) else None
        cells = _period_cells(sm, d)
        if periods and periods[-1][2] == cells:
            periods[-1] = (periods[-1][0], end, cells)
        else:
            periods.append((d, end, cells))
    provider_id, _, _ = sm.catalog_id.partition("/")
    standard = _standard_prices(sm.model)
    base_input = standard.input_mtok.base if hasattr(standard.input_mtok, "base") else standard.input_mtok
    ignored = _ignored_keys(sm.model)
    note = []
    if sm.model.deprecated:
        note.append("deprecated by the provider")
    if ignored:
        note.append("not priced here (the log has no such counts): " + " ".join(ignored))
    if not sm.is_own:
        note.append(f"{sm.provider.id} serves it; the source prices it as {_owner_of(sm.model)}'s, without variants")
    rows = []
    for valid_from, valid_to, cells in periods:
        for cell in cells:
            rows.append({
                "model": sm.catalog_id,
                "provider": provider_id,
                "display_name": sm.model.name or sm.model.id,
                "tier": guide_tier(provider_id, base_input),
                **cell,
                "valid_from": valid_from.isoformat(),
                "valid_to": valid_to.isoformat() if valid_to else "",
                "price_source": f"{SOURCE_PACKAGE} {version_text}",
                "source_model": sm.source_model,
                "note": "; ".join(note),
            })
    return rows


def source_aliases(models: list[SourceModel]) -> list[dict[str, str]]:
    """The source's exact alternative names of a model (`mistral-large-latest` -> mistral-large) that it resolves
    to that very model: `provider/name` -> the catalog id."""
    from genai_prices import types

    def equals(clause) -> Iterable[str]:
        if isinstance(clause, types.ClauseEquals):
            yield clause.equals.lower()
        elif isinstance(clause, types.ClauseOr):
            for c in clause.or_:
                yield from equals(c)

    rows = []
    for sm in models:
        if not sm.is_own:
            continue
        for name in equals(sm.model.match):
            alias = f"{sm.provider.id}/{name}"
            if "/" in name or name == sm.model.id.lower() or sm.provider.find_model(name) is not sm.model:
                continue
            rows.append({"alias": alias, "model": sm.catalog_id, "valid_from": "",
                         "note": f"{SOURCE_PACKAGE} {source_version()}: an exact alias of {sm.source_model}"})
    return rows


# --- generation -------------------------------------------------------------------------------------------------

@dataclass
class Catalog:
    prices: list[dict[str, str]]
    aliases: list[dict[str, str]]


def _sort_key(row: Mapping[str, str]) -> tuple:
    return (row["model"], row["valid_from"], row["service_tier"] != ANY_TIER, row["service_tier"],
            row["window_start"], int(row["input_tokens_above"] or -1))


def generate(overrides_csv: Path = OVERRIDES_CSV, alias_overrides_csv: Path = ALIAS_OVERRIDES_CSV) -> Catalog:
    """The catalog the pinned source and the overrides define (deterministic)."""
    overrides = read_csv(overrides_csv, OVERRIDE_HEADER)
    alias_overrides = read_csv(alias_overrides_csv, ALIAS_OVERRIDE_HEADER)
    version_text = source_version()
    named = {r["model"] for r in overrides} | {r["model"] for r in alias_overrides}
    models = source_models(named)
    by_override: dict[str, list[dict[str, str]]] = {}
    for line, row in enumerate(overrides, start=2):
        where = f"{overrides_csv.name}, line {line}"
        if not row["reason"]:
            raise ValueError(f"{where}: an override needs a reason")
        for col in PRICE_COLUMNS.values():
            if row[col]:
                fmt_price(Decimal(row[col]), f"{where}, {col}")
        by_override.setdefault(row["model"], []).append(row)

    rows: list[dict[str, str]] = []
    for model_id, model_rows in by_override.items():
        model_rows.sort(key=lambda r: r["valid_from"])
        for row in model_rows:
            rows.append({
                "model": row["model"], "provider": row["provider"], "display_name": row["display_name"],
                "tier": row["tier"], "service_tier": ANY_TIER, "window_start": "", "window_end": "",
                "window_timezone": "", "input_tokens_above": "",
                **{col: fmt_price(Decimal(row[col]), model_id) if row[col] else "" for col in PRICE_COLUMNS.values()},
                "valid_from": row["valid_from"], "valid_to": row["valid_to"],
                "price_source": "override", "source_model": "", "note": row["reason"],
            })
    for sm in models:
        taken = by_override.get(sm.catalog_id)
        if taken:
            last_end = max(r["valid_to"] or "9999-12-31" for r in taken)
            if last_end == "9999-12-31":
                continue  # an open-ended override: the source does not price this id
            rows.extend(source_rows(sm, version_text, not_before=date.fromisoformat(last_end)))
        else:
            rows.extend(source_rows(sm, version_text))
    # one name and one guide tier per model (model_popularity reads them): the platform's, where it has overrides
    named_as = {model_id: (rs[-1]["display_name"], rs[-1]["tier"]) for model_id, rs in by_override.items()}
    for row in rows:
        if row["model"] in named_as:
            row["display_name"], row["tier"] = named_as[row["model"]]
    rows.sort(key=_sort_key)

    catalog_ids = {r["model"] for r in rows}
    aliases = [dict(r) for r in source_aliases(models) if r["alias"] not in catalog_ids]
    platform = []
    for line, row in enumerate(alias_overrides, start=2):
        where = f"{alias_overrides_csv.name}, line {line}"
        if row["model"] not in catalog_ids:
            raise ValueError(f"{where}: {row['model']!r} is not a catalog model")
        if not row["reason"]:
            raise ValueError(f"{where}: an alias needs a reason")
        ends = [r["valid_to"] for r in rows if r["model"] == row["alias"]]
        if ends and (not row["valid_from"] or row["valid_from"] not in ends):
            raise ValueError(f"{where}: {row['alias']!r} has catalog rows of its own: the alias must start on the day "
                             f"they end ({sorted(e for e in ends if e)})")
        platform.append({"alias": row["alias"], "model": row["model"], "valid_from": row["valid_from"],
                         "note": row["reason"]})
    platform_names = {r["alias"] for r in platform}
    aliases = sorted([*platform, *(a for a in aliases if a["alias"] not in platform_names)],
                     key=lambda r: (r["alias"], r["valid_from"]))
    return Catalog(prices=rows, aliases=aliases)


def _row_key(row: Mapping[str, str]) -> tuple:
    return (row["model"], row["valid_from"], row["service_tier"], row["window_start"], row["input_tokens_above"])


def diff(old: list[dict[str, str]], new: list[dict[str, str]]) -> list[str]:
    """What changed, one line per row: added, removed, re-priced (or otherwise changed)."""
    before = {_row_key(r): r for r in old}
    after = {_row_key(r): r for r in new}
    lines = []

    def name(key: tuple) -> str:
        model, valid_from, tier, window, above = key
        extra = "".join([f" tier={tier}" if tier != ANY_TIER else "", f" window@{window}" if window else "",
                         f" input>{above}" if above else ""])
        return f"{model} from {valid_from}{extra}"

    for key in sorted(after.keys() - before.keys()):
        lines.append(f"added     {name(key)}")
    for key in sorted(before.keys() - after.keys()):
        lines.append(f"removed   {name(key)}")
    for key in sorted(before.keys() & after.keys()):
        changes = [f"{c} {before[key].get(c, '')!r} -> {after[key].get(c, '')!r}"
                   for c in HEADER if before[key].get(c, "") != after[key].get(c, "")]
        if changes:
            verb = "re-priced" if any(c in PRICE_COLUMNS.values() for c in HEADER
                                      if before[key].get(c, "") != after[key].get(c, "")) else "changed  "
            lines.append(f"{verb} {name(key)}: " + ", ".join(changes))
    return lines


REVIEW_ACTIONS = {
    "added": "the installed genai-prices has a price the committed catalog lacks: run `make catalog`, review the "
             "diff, commit",
    "removed": "the installed genai-prices no longer has this price: run `make catalog`; if the platform still "
               "bills the model, add an override (model_price_overrides.csv) with the reason",
    "re-priced": "the installed genai-prices prices this differently: check the provider's page, then `make catalog`"
                 " and commit (or keep the old price as an override with its reason)",
    "changed": "a non-price field differs (name, tier, note): `make catalog` and commit",
}


def review_rows() -> list[dict[str, str]]:
    """What differs between the committed catalog and what the installed genai-prices and the overrides generate,
    as rows for the `catalog_price_changes` table, each with what a person should do. Offline: the installed
    package's bundled data only. Empty when the installed package is the pinned one and nobody edited the seeds."""
    generated = generate()
    committed = _read_committed(PRICES_CSV, HEADER)
    rows = []
    for line in diff(committed, generated.prices):
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        model = rest.split(" ", 1)[0]
        rows.append({"change_type": f"source_{verb.strip().replace('-', '')}", "model": model,
                     "detail": rest, "action": REVIEW_ACTIONS[verb.strip()]})
    return rows


def _read_committed(path: Path, header: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.exists():
        return []
    try:
        return read_csv(path, header)
    except ValueError:
        return []  # an older layout: everything shows as added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the model catalog seeds from genai-prices.")
    parser.add_argument("--check", action="store_true", help="fail if the committed seeds differ; write nothing")
    args = parser.parse_args(argv)
    catalog = generate()
    prices_text = render_csv(catalog.prices, HEADER)
    aliases_text = render_csv(catalog.aliases, ALIAS_HEADER)
    old_prices = _read_committed(PRICES_CSV, HEADER)
    old_aliases = {(r["alias"], r["valid_from"]): r for r in _read_committed(ALIASES_CSV, ALIAS_HEADER)}
    lines = diff(old_prices, catalog.prices)
    new_aliases = {(r["alias"], r["valid_from"]): r for r in catalog.aliases}
    lines += [f"added     alias {a} -> {new_aliases[a, f]['model']}"
              for a, f in sorted(new_aliases.keys() - old_aliases.keys())]
    lines += [f"removed   alias {a}" for a, f in sorted(old_aliases.keys() - new_aliases.keys())]
    lines += [f"changed   alias {k[0]}: {old_aliases[k]} -> {new_aliases[k]}"
              for k in sorted(old_aliases.keys() & new_aliases.keys()) if old_aliases[k] != new_aliases[k]]
    same = (PRICES_CSV.exists() and PRICES_CSV.read_text(encoding="utf-8") == prices_text
            and ALIASES_CSV.exists() and ALIASES_CSV.read_text(encoding="utf-8") == aliases_text)
    source = f"{SOURCE_PACKAGE} {source_version()}"
    if args.check:
        if same:
            print(f"catalog up to date with {source} and the overrides ({len(catalog.prices)} price rows)")
            return 0
        print(f"the committed catalog differs from what {source} and the overrides generate:", file=sys.stderr)
        for line in lines[:50] or ["(formatting only)"]:
            print("  " + line, file=sys.stderr)
        print("run `make catalog`, review the diff and commit the seeds", file=sys.stderr)
        return 1
    PRICES_CSV.write_text(prices_text, encoding="utf-8")
    ALIASES_CSV.write_text(aliases_text, encoding="utf-8")
    print(f"catalog from {source} and {OVERRIDES_CSV.name}: {len(catalog.prices)} price rows, "
          f"{len({r['model'] for r in catalog.prices})} models, {len(catalog.aliases)} aliases")
    for line in lines:
        print("  " + line)
    if not lines:
        print("  no change")
    else:
        print(f"{len(lines)} changes: review them (git diff dbt_project/seeds) and commit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
