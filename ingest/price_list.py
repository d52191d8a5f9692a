"""Compare our model catalog with a public price list (LiteLLM's model_prices_and_context_window.json format).

The list maps a model name to its prices in USD per token (`input_cost_per_token`, `output_cost_per_token`,
`cache_read_input_token_cost`, `cache_creation_input_token_cost`) and its `litellm_provider`. Prices are read
as exact decimals (the JSON is parsed with Decimal, never float) and converted to USD per 1M tokens by an
exact multiplication. The comparison lists what a person should review; it never changes a price.

Plain Python, no Dagster: `fetch_price_list` (httpx or a local file), `parse_price_list`, `compare_catalog`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

PRICE_LIST_ENV = "AI_USAGE_PRICE_LIST_URL"
PER_1M = Decimal(1_000_000)

# The matching rule's data lives in one place, two seeds read here (and only here): which `litellm_provider` values
# (and key prefixes) file each of our providers' models, and our model id -> its name in the list where they differ.
SEEDS = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds"
PROVIDERS_CSV = SEEDS / "price_list_providers.csv"
ALIASES_CSV = SEEDS / "price_list_aliases.csv"


def _read_seed(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_list_providers(path: Path = PROVIDERS_CSV) -> dict[str, tuple[str, ...]]:
    """Our provider -> the list providers that file its models, in the seed's order."""
    providers: dict[str, tuple[str, ...]] = {}
    for row in _read_seed(path):
        providers[row["provider"]] = (*providers.get(row["provider"], ()), row["list_provider"])
    return providers


def read_aliases(path: Path = ALIASES_CSV) -> dict[str, str]:
    """Our model id -> its name in the list (seeds/price_list_aliases.csv)."""
    return {row["model"]: row["list_model"] for row in _read_seed(path)}


LIST_PROVIDERS: dict[str, tuple[str, ...]] = read_list_providers()

# Fields compared, ours (model_catalog column) -> the list's field.
PRICE_FIELDS: dict[str, str] = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
}

CHANGE_COLUMNS = (
    "change_type",
    "model",
    "list_model",
    "provider",
    "list_provider",
    "differing_prices",
    *(f"{side}_{field}_price_per_1m_usd" for field in PRICE_FIELDS for side in ("our", "list")),
)


class PriceListError(Exception):
    """The price list could not be read: says where and what to do."""


@dataclass(frozen=True)
class ListPrice:
    list_model: str
    list_provider: str
    mode: str | None
    per_1m: dict[str, Decimal | None]  # field (input, output, cache_read, cache_write) -> USD per 1M tokens


def redact(source: str) -> str:
    """The source without credentials or query string (a token there must never reach a log)."""
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return source


def fetch_price_list(source: str, *, timeout: float = 30.0) -> dict:
    """Read the list from an http(s) URL (httpx) or a local path (`file://` accepted). Decimals stay exact."""
    shown = redact(source)
    try:
        if source.startswith(("http://", "https://")):
            response = httpx.get(source, timeout=timeout, follow_redirects=True)
            response.raise_for_status()
            text = response.text
        else:
            path = Path(source.removeprefix("file://")).expanduser()
            text = path.read_text(encoding="utf-8")
    except httpx.HTTPStatusError as error:
        raise PriceListError(
            f"price list {shown}: HTTP {error.response.status_code}; check {PRICE_LIST_ENV}"
        ) from None
    except httpx.HTTPError as error:
        raise PriceListError(
            f"price list {shown}: {type(error).__name__}; check the URL and the network"
        ) from None
    except OSError as error:
        raise PriceListError(f"price list {shown}: cannot read the file ({error.strerror})") from None
    try:
        data = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as error:
        raise PriceListError(
            f"price list {shown}: not JSON (line {error.lineno}, column {error.colno})"
        ) from None
    if not isinstance(data, dict):
        raise PriceListError(
            f"price list {shown}: expected a JSON object of models, got {type(data).__name__}"
        )
    return data


def per_token_to_per_1m(value: object) -> Decimal | None:
    """USD per token (a JSON number) -> USD per 1M tokens, exactly; None when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    per_1m = number * PER_1M
    # Plain notation, no trailing zeros: 1.5E-7 per token -> 0.15 per 1M.
    return per_1m.quantize(Decimal(1)) if per_1m == per_1m.to_integral_value() else per_1m.normalize()


def parse_price_list(data: Mapping[str, object]) -> dict[str, ListPrice]:
    """The list's models with a provider and at least an input or output price (the `sample_spec` entry and
    malformed entries are left out)."""
    prices: dict[str, ListPrice] = {}
    for name, entry in data.items():
        if name == "sample_spec" or not isinstance(entry, Mapping):
            continue
        provider = entry.get("litellm_provider")
        if not isinstance(provider, str) or not provider:
            continue
        per_1m = {field: per_token_to_per_1m(entry.get(key)) for field, key in PRICE_FIELDS.items()}
        if per_1m["input"] is None and per_1m["output"] is None:
            continue
        mode = entry.get("mode")
        prices[name] = ListPrice(name, provider, mode if isinstance(mode, str) else None, per_1m)
    return prices


def _candidates(model: str, provider: str) -> list[str]:
    """List keys that may name our `provider/name` model: the id, each list prefix + name, the bare name."""
    name = model.partition("/")[2]
    keys = [model]
    keys += [f"{prefix}/{name}" for prefix in LIST_PROVIDERS.get(provider, ())]
    keys.append(name)
    return list(dict.fromkeys(keys))


def match_model(model: str, provider: str, prices: Mapping[str, ListPrice],
                aliases: Mapping[str, str] | None = None) -> ListPrice | None:
    """The list entry for one of our models: an explicit alias first, else a candidate key filed under one of
    the provider's list providers."""
    alias = (aliases or {}).get(model)
    if alias:
        return prices.get(alias)
    allowed = LIST_PROVIDERS.get(provider, (provider,))
    for key in _candidates(model, provider):
        entry = prices.get(key)
        if entry is not None and entry.list_provider in allowed:
            return entry
    return None


def _as_decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def compare_catalog(catalog: Iterable[Mapping[str, object]], prices: Mapping[str, ListPrice],
                    aliases: Mapping[str, str] | None = None) -> list[dict]:
    """Rows for `catalog_price_changes`, sorted by change type and model:

    - `price_differs`: one of our models whose list price differs from ours (a field we have and the list
      lacks is not compared; a list cache price where we have none is a difference: we bill those tokens as
      input);
    - `missing_from_list`: one of our models the list does not have;
    - `new_in_list`: a chat model of one of our providers that none of our models matches.

    `catalog` holds our prices in effect now: model, provider, input/output/cache_read/cache_write
    `_price_per_1m_usd` (Decimal or None).
    """
    rows: list[dict] = []
    matched: set[str] = set()
    providers: set[str] = set()
    for ours in catalog:
        model, provider = str(ours["model"]), str(ours["provider"])
        providers.add(provider)
        entry = match_model(model, provider, prices, aliases)
        our_prices = {field: _as_decimal(ours.get(f"{field}_price_per_1m_usd")) for field in PRICE_FIELDS}
        if entry is None:
            rows.append(_row("missing_from_list", model, None, provider, None, [], our_prices, {}))
            continue
        matched.add(entry.list_model)
        differing = [
            field for field in PRICE_FIELDS
            if entry.per_1m[field] is not None and our_prices[field] != entry.per_1m[field]
        ]
        if differing:
            rows.append(_row("price_differs", model, entry.list_model, provider, entry.list_provider,
                             differing, our_prices, entry.per_1m))
    list_to_ours = {list_provider: ours for ours, lps in LIST_PROVIDERS.items() for list_provider in lps}
    for entry in prices.values():
        provider = list_to_ours.get(entry.list_provider)
        if provider in providers and entry.list_model not in matched and entry.mode in (None, "chat"):
            rows.append(_row("new_in_list", None, entry.list_model, provider, entry.list_provider, [], {},
                             entry.per_1m))
    order = {"price_differs": 0, "missing_from_list": 1, "new_in_list": 2}
    return sorted(rows, key=lambda r: (order[r["change_type"]], r["model"] or "", r["list_model"] or ""))


def _row(
    change_type: str,
    model: str | None,
    list_model: str | None,
    provider: str,
    list_provider: str | None,
    differing: list[str],
    ours: Mapping[str, Decimal | None],
    listed: Mapping[str, Decimal | None],
) -> dict:
    row: dict = {
        "change_type": change_type,
        "model": model,
        "list_model": list_model,
        "provider": provider,
        "list_provider": list_provider,
        "differing_prices": ", ".join(differing) or None,
    }
    for field in PRICE_FIELDS:
        row[f"our_{field}_price_per_1m_usd"] = ours.get(field)
        row[f"list_{field}_price_per_1m_usd"] = listed.get(field)
    return row
