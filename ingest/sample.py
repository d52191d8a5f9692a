"""Deterministic sample data for the AI usage warehouse (plain Python, no Dagster).

Writes gateway request logs in the gateway-log-v1 format, one gzip JSON Lines file per UTC day
(``<data_dir>/raw/gateway/sample-YYYY-MM-DD.jsonl.gz``), and the users export
(``<data_dir>/raw/users.csv``).

* Models: ``ROSTER``, the platform guide's tiers (most users / power users / speed, the seed's ``tier``) mapped to
  today's text models of the ten providers, plus some ``azure/*`` (half of it the platform's own
  ``azure/crowe-logic-assistant``). Every roster model must be in the catalog seed
  ``dbt_project/seeds/model_prices.csv``; on a day a model has no price (before its first ``valid_from``, after its
  last ``valid_to``) its share goes to the others, so no sampled request is ever held back as unpriced.
* Every pricing dimension of the catalog shows up: requests on models with a long-context tier sometimes send a
  document-sized prompt past the tier's threshold (``LONG_CONTEXT_RATE``: the threshold plus a draw from the trace's
  longest 5% of prompts times 1-8, its completion from the same trace row); DeepSeek's time-of-day windows are hit
  by the traffic's own diurnal pattern (peak and off-peak); requests on models with a flex / priority / batch
  price send ``service_tier`` (``SERVICE_TIERS``; absent otherwise, which means ``default``); cache writes on models
  with a cache-write price, part of them for one hour (``native_tokens_cache_creation_1h``) where the model has a
  1-hour price.
* The gateway's ``total_cost`` is what the provider bills, priced from the seed with the warehouse's own rules
  (``price_row``: alias, validity day, time-of-day window in its time zone, service tier else ``any``, highest
  long-context tier below the prompt; ``provider_cost``: every token type at its own price), exact in Decimal, then
  rounded to 8 decimals as the gateway reports it.
* Prompt / completion token counts are sampled from real traffic: the Azure LLM inference trace 2023
  (conversation service), copied to ``ingest/traces/azure-llm-2023/`` (CC-BY-4.0, see its README).
* Same ``seed`` + same ``end`` -> byte-identical files. No timestamp is later than ``end``.

CLI::

    python -m ingest.sample [--data-dir DIR] [--if-empty] [--days N] [--users N] [--seed N]
"""

from __future__ import annotations

import argparse
import bisect
import csv
import gzip
import io
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

from ingest import settings
from ingest.catalog import ALIAS_HEADER, ALIASES_CSV, HEADER, PRICES_CSV, read_csv
from ingest.files import gateway_dir, scan_drop_zone
from ingest.settings import DATA_DIR_ENV

CATALOG_CSV = PRICES_CSV
TRACE_CSV = Path(__file__).resolve().parent / "traces" / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"

DEFAULT_SEED = 20261124
MS_PER_DAY = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32

# The platform guide's tiers mapped to today's text models (catalog ids; each model's seed `tier` is its group's),
# with each model's share of requests. Chosen from the rows genai-prices prices today (open-ended validity, not
# marked deprecated): per provider the current flagship / workhorse / cheap models, no dated snapshots.
DEFAULT_MODEL = "openai/gpt-6-luna"  # the guide's "most users" default (GPT-4o Mini's successor as the cheap model)
ROSTER: dict[str, tuple[tuple[str, float], ...]] = {
    "most_users": (  # 0.65 of requests, 0.30 of them the default model alone
        (DEFAULT_MODEL, 0.30),
        ("openai/gpt-6.1-terra", 0.06),
        ("anthropic/claude-haiku-5-5", 0.06),
        ("google/gemini-3.8-flash", 0.06),
        ("deepseek/deepseek-flash", 0.05),
        ("deepseek/deepseek-v4-pro", 0.02),
        ("x-ai/grok-4.3", 0.03),
        ("mistral/mistral-medium-3-5", 0.03),
        ("mistral/mistral-small-2603", 0.02),
        ("meta/muse-spark-1.3", 0.02),
    ),
    "power_users": (  # 0.22
        ("openai/gpt-6-sol", 0.06),
        ("openai/gpt-6-astra", 0.02),
        ("anthropic/claude-sonnet-5-5", 0.05),
        ("anthropic/claude-opus-5-5", 0.02),
        ("google/gemini-3.1-pro-preview", 0.03),
        ("x-ai/grok-4.7", 0.02),
        ("cohere/command-a", 0.01),
        ("meta/muse-wonder-1.0", 0.01),
    ),
    "speed": (  # 0.08
        ("groq/openai/gpt-oss-120b", 0.03),
        ("groq/meta-llama/llama-4-scout-17b-16e-instruct", 0.03),
        ("groq/qwen/qwen3-32b", 0.02),
    ),
    "azure": (  # 0.05, half of it the platform's own assistant (priced as Azure GPT-4o)
        ("azure/crowe-logic-assistant", 0.025),
        ("azure/gpt-4o", 0.01),
        ("azure/o4-mini", 0.01),
        ("azure/phi-4", 0.005),
    ),
}
ASSISTANT_MODEL = "azure/crowe-logic-assistant"
REASONING_MODELS = {"openai/gpt-6-sol", "openai/gpt-6-astra", "openai/gpt-6.1-terra", "azure/o4-mini",
                    "x-ai/grok-4.7", "deepseek/deepseek-v4-pro"}
# Prompt-cache token granularity by provider (models with a cache-read price only); others: 128.
CACHE_UNITS = {"anthropic": 1024, "google": 1024, "deepseek": 64}
CACHE_READ_RATE = 0.35
CACHE_WRITE_RATE = {"anthropic": 0.12}  # of requests on a model with a cache-write price; others: 0.05
CACHE_WRITE_1H_RATE = 0.35  # of cache writes on a model with a 1-hour cache-write price
LONG_CONTEXT_RATE = 0.005  # of requests on a model with a long-context tier
LONG_CONTEXT_TAIL = 0.95  # long prompts start from the trace's longest 5% of prompts
# (tier, cumulative probability) tried in order: a request takes the first tier its model has a price for.
SERVICE_TIERS = (("flex", 0.08), ("priority", 0.12), ("batch", 0.18))
FAILURES = [(500, 0.35), (502, 0.15), (429, 0.35), (400, 0.15)]
FAILURE_RATE = 0.015
PLANS = [("free", 0.60), ("pro", 0.30), ("team", 0.10)]
PLAN_ACTIVITY = {"free": 1.0, "pro": 1.6, "team": 2.2}
# Relative request volume per UTC hour (peaks in the European afternoon / US morning).
HOURLY = [0.25, 0.2, 0.18, 0.18, 0.2, 0.28, 0.4, 0.55, 0.75, 0.9, 1.0, 1.0,
          1.0, 1.0, 1.0, 0.98, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
WEEKDAY = [1.0, 1.05, 1.05, 1.0, 0.9, 0.55, 0.5]  # Monday .. Sunday
MILLION = Decimal(1_000_000)


# --- the catalog, priced as the warehouse prices it (pricing-rules.md) ---------------------------

@dataclass(frozen=True)
class PriceRow:
    """One cell of the catalog seed: a model's prices (USD per 1M tokens) for a validity range, service tier,
    time-of-day window and long-context tier."""
    model: str
    provider: str
    tier: str
    service_tier: str
    window_start: time | None
    window_end: time | None
    window_timezone: str | None
    input_tokens_above: int | None
    input_price: Decimal
    output_price: Decimal
    cache_read_price: Decimal | None
    cache_write_price: Decimal | None
    cache_write_1h_price: Decimal | None
    reasoning_price: Decimal | None
    valid_from: date
    valid_to: date | None

    def in_effect(self, at: datetime) -> bool:
        """Valid on the UTC day of ``at`` and, for a windowed row, ``at`` inside its window (start inclusive, end
        exclusive, in the window's time zone; an end before the start wraps past midnight)."""
        day = at.date()
        if day < self.valid_from or (self.valid_to is not None and day >= self.valid_to):
            return False
        if self.window_start is None:
            return True
        local = at.astimezone(_zone(self.window_timezone or "UTC")).time().replace(tzinfo=None)
        if self.window_start <= self.window_end:
            return self.window_start <= local < self.window_end
        return local >= self.window_start or local < self.window_end


@lru_cache(maxsize=None)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class Catalog:
    rows: dict[str, tuple[PriceRow, ...]]  # catalog model -> its rows, in file order
    aliases: dict[str, tuple[str, date | None]]  # logged name -> (catalog model, valid_from)
    _by_day: dict = field(default_factory=dict, compare=False, repr=False)  # memo of day_rows

    def catalog_model(self, model: str, at: datetime) -> str:
        alias = self.aliases.get(model)
        if alias and (alias[1] is None or at.date() >= alias[1]):
            return alias[0]
        return model

    def day_rows(self, model: str, day: date) -> tuple[PriceRow, ...]:
        """The rows of the logged model's catalog model valid on the UTC ``day`` (any window)."""
        key = (model, day)
        if key not in self._by_day:
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            self._by_day[key] = tuple(
                r for r in self.rows.get(self.catalog_model(model, at), ())
                if r.valid_from <= day and (r.valid_to is None or day < r.valid_to))
        return self._by_day[key]

    def price_row(self, model: str, at: datetime, service_tier: str = "default",
                  input_tokens: int = 0) -> PriceRow | None:
        """The row that prices a request (int_requests_priced): of the model's catalog model, in effect at
        ``at``, of the request's service tier else ``any``, the highest long-context tier below its input tokens."""
        best, best_key = None, None
        for row in self.day_rows(model, at.date()):
            if row.service_tier not in (service_tier, "any") or not row.in_effect(at):
                continue
            if row.input_tokens_above is not None and input_tokens <= row.input_tokens_above:
                continue
            key = (row.service_tier == service_tier, -1 if row.input_tokens_above is None else row.input_tokens_above)
            if best_key is None or key > best_key:
                best, best_key = row, key
        return best

    def service_tiers(self, model: str, day: date) -> set[str]:
        """The tiers (other than `any`) the model has a price of its own for on ``day``."""
        return {r.service_tier for r in self.day_rows(model, day) if r.service_tier != "any"}

    def long_context_threshold(self, model: str, day: date, service_tier: str) -> int | None:
        """The lowest long-context threshold of the rows that could price the request on ``day``, or None."""
        limits = [r.input_tokens_above for r in self.day_rows(model, day)
                  if r.input_tokens_above is not None and r.service_tier in (service_tier, "any")]
        return min(limits) if limits else None


def _dec(cell: str) -> Decimal | None:
    return Decimal(cell) if cell.strip() else None


def load_catalog(path: Path = CATALOG_CSV, aliases_path: Path = ALIASES_CSV) -> Catalog:
    """The catalog seed (every row) and the alias seed."""
    rows: dict[str, list[PriceRow]] = {}
    for row in read_csv(path, HEADER):
        rows.setdefault(row["model"], []).append(PriceRow(
            model=row["model"],
            provider=row["provider"],
            tier=row["tier"],
            service_tier=row["service_tier"],
            window_start=time.fromisoformat(row["window_start"]) if row["window_start"] else None,
            window_end=time.fromisoformat(row["window_end"]) if row["window_end"] else None,
            window_timezone=row["window_timezone"] or None,
            input_tokens_above=int(row["input_tokens_above"]) if row["input_tokens_above"] else None,
            input_price=Decimal(row["input_price_per_1m_usd"]),
            output_price=Decimal(row["output_price_per_1m_usd"]),
            cache_read_price=_dec(row["cache_read_price_per_1m_usd"]),
            cache_write_price=_dec(row["cache_write_price_per_1m_usd"]),
            cache_write_1h_price=_dec(row["cache_write_1h_price_per_1m_usd"]),
            reasoning_price=_dec(row["reasoning_price_per_1m_usd"]),
            valid_from=date.fromisoformat(row["valid_from"]),
            valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
        ))
    if not rows:
        raise ValueError(f"empty model catalog: {path}")
    aliases = {row["alias"]: (row["model"], date.fromisoformat(row["valid_from"]) if row["valid_from"] else None)
               for row in read_csv(aliases_path, ALIAS_HEADER)}
    return Catalog({model: tuple(rs) for model, rs in rows.items()}, aliases)


def provider_cost(row: PriceRow, prompt: int, completion: int, cached: int = 0, creation: int = 0,
                  creation_1h: int = 0, reasoning: int = 0) -> Decimal:
    """Step 3 of pricing-rules.md, exact: every token type at its own price (a missing cache-read, cache-write or
    reasoning price falls back to the input / cache-write / output price)."""
    cache_read = row.input_price if row.cache_read_price is None else row.cache_read_price
    cache_write = row.input_price if row.cache_write_price is None else row.cache_write_price
    cache_write_1h = cache_write if row.cache_write_1h_price is None else row.cache_write_1h_price
    reasoning_price = row.output_price if row.reasoning_price is None else row.reasoning_price
    return ((prompt - cached - creation) * row.input_price + cached * cache_read
            + (creation - creation_1h) * cache_write + creation_1h * cache_write_1h
            + (completion - reasoning) * row.output_price + reasoning * reasoning_price) / MILLION


def roster(catalog: Catalog) -> list[tuple[str, float]]:
    """(model, share) of every roster model; each must be in the catalog."""
    missing = [m for group in ROSTER.values() for m, _ in group
               if m not in catalog.rows and m not in catalog.aliases]
    if missing:
        raise ValueError(f"sample roster models missing from {CATALOG_CSV}: {', '.join(missing)}; "
                         "update ROSTER in ingest/sample.py to models the catalog prices")
    return [entry for group in ROSTER.values() for entry in group]


def load_trace(path: Path = TRACE_CSV) -> list[tuple[int, int]]:
    """(ContextTokens, GeneratedTokens) rows of the Azure conversation trace."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.append((int(row["ContextTokens"]), int(row["GeneratedTokens"])))
    return rows


def _iso_ms(ms: int) -> str:
    dt = EPOCH + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _poisson(rng: Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _weighted(rng: Random, items: list, cum: list[float]):
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


def _cumulative(weights: list[float]) -> list[float]:
    out, s = [], 0.0
    for w in weights:
        s += w
        out.append(s)
    return out


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_sample_data(data_dir: Path, *, end: datetime | None = None, days: int = 30, users: int = 300,
                      seed: int = DEFAULT_SEED, progress: Callable[[str], None] | None = None,
                      write_users: bool = True) -> dict:
    """Write ``days`` days of gateway logs ending at ``end`` (default: now, UTC) and the users export.

    Returns a summary: files (count), requests, users, first_timestamp, last_timestamp, gateway_dir,
    users_csv. ``progress``, if given, is called with one short line about every 10 days written.
    ``write_users=False`` leaves ``<data_dir>/raw/users.csv`` alone.
    """
    if days < 1 or users < 1:
        raise ValueError("days and users must be >= 1")
    data_dir = Path(data_dir)
    end_ms = _to_ms(end if end is not None else datetime.now(UTC))
    start_ms = end_ms - days * MS_PER_DAY  # window: [start_ms, end_ms); nothing later than end

    rng = Random(seed)
    catalog = load_catalog()
    models = roster(catalog)
    trace = load_trace()
    tail_from = sorted(p for p, _ in trace)[int(len(trace) * LONG_CONTEXT_TAIL)]
    long_trace = [row for row in trace if row[0] >= tail_from]
    fail_codes, fail_cum = [c for c, _ in FAILURES], _cumulative([w for _, w in FAILURES])
    plan_names, plan_cum = [p for p, _ in PLANS], _cumulative([w for _, w in PLANS])
    hour_max = max(HOURLY)

    # --- users ---------------------------------------------------------------------------------
    # created_at uniform from 120 days before the window to the end of the window.
    user_rows = []
    user_state = []  # (user_id, created_ms, daily rate)
    first_created = start_ms - 120 * MS_PER_DAY
    for n in range(1, users + 1):
        uid = f"usr_{n:04d}"
        plan = _weighted(rng, plan_names, plan_cum)
        created_ms = first_created + int(rng.random() * (end_ms - first_created))
        created_ms -= created_ms % 1000  # whole seconds in the export
        # heavy tail: most users make a request or two a day, a few make dozens
        rate = min(1.6 * rng.paretovariate(1.25), 150.0) * PLAN_ACTIVITY[plan]
        if rng.random() < 0.12:  # dormant accounts
            rate *= 0.05
        user_rows.append((uid, f"user{n:04d}@example.com", _iso_ms(created_ms)[:19] + "Z", plan))
        user_state.append((uid, created_ms, rate))

    # --- requests, one UTC day at a time -------------------------------------------------------
    gw_dir = gateway_dir(data_dir)
    gw_dir.mkdir(parents=True, exist_ok=True)
    first_day = start_ms - start_ms % MS_PER_DAY
    total, files, first_ts, last_ts = 0, 0, None, None
    day_ms = first_day
    day_no = 0
    while day_ms < end_ms:
        lo_day, hi_day = max(day_ms, start_ms), min(day_ms + MS_PER_DAY, end_ms)
        weekday = (EPOCH + timedelta(milliseconds=day_ms)).weekday()
        frac = (hi_day - lo_day) / MS_PER_DAY
        # the roster models priced on this day (windows cover the day, so its first instant tells)
        day_start = EPOCH + timedelta(milliseconds=lo_day)
        day_models = [(m, share) for m, share in models if catalog.price_row(m, day_start) is not None]
        if not day_models:
            raise ValueError(f"no model of the sample's ROSTER has a price in {CATALOG_CSV} on {day_start.date()}: "
                             "update ROSTER in ingest/sample.py to models the catalog prices on that day")
        day_cum = _cumulative([share for _, share in day_models])
        day_names = [m for m, _ in day_models]
        records = []
        for uid, created_ms, rate in user_state:
            lo = max(lo_day, created_ms)
            if lo >= hi_day:
                continue
            n = _poisson(rng, rate * WEEKDAY[weekday] * frac * (hi_day - lo) / (hi_day - lo_day))
            for _ in range(n):
                while True:  # diurnal pattern by rejection sampling
                    ts = lo + int(rng.random() * (hi_day - lo))
                    if rng.random() * hour_max <= HOURLY[(ts % MS_PER_DAY) // 3_600_000]:
                        break
                model = _weighted(rng, day_names, day_cum)
                records.append(_request(rng, ts, uid, model, catalog, trace, long_trace, fail_codes, fail_cum))
        if records:
            records.sort(key=lambda r: (r["created_at"], r["id"]))
            body = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)
            day_name = (EPOCH + timedelta(milliseconds=day_ms)).strftime("%Y-%m-%d")
            _write_atomic(gw_dir / f"sample-{day_name}.jsonl.gz",
                          gzip.compress(body.encode("utf-8"), compresslevel=6, mtime=0))
            files += 1
            total += len(records)
            first_ts = first_ts or records[0]["created_at"]
            last_ts = records[-1]["created_at"]
        day_no += 1
        if progress and day_no % 10 == 0:
            progress(f"sample data: {day_no} days written, {total} requests so far")
        day_ms += MS_PER_DAY

    users_csv = settings.users_csv(data_dir)
    if write_users:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["id", "email", "created_at", "plan"])
        w.writerows(user_rows)
        _write_atomic(users_csv, buf.getvalue().encode("utf-8"))

    return {
        "files": files,
        "requests": total,
        "users": users,
        "days": days,
        "first_timestamp": first_ts,
        "last_timestamp": last_ts,
        "gateway_dir": str(gw_dir),
        "users_csv": str(users_csv),
    }


def _request(rng: Random, ts: int, uid: str, model: str, catalog: Catalog, trace: list[tuple[int, int]],
             long_trace: list[tuple[int, int]], fail_codes: list[int], fail_cum: list[float]) -> dict:
    at = EPOCH + timedelta(milliseconds=ts)
    base = catalog.price_row(model, at)
    if base is None:  # the caller samples only models priced on the day
        raise ValueError(f"sample model {model} has no catalog price at {_iso_ms(ts)}")
    provider = model.partition("/")[0]
    rid = "gen_" + "".join(ID_ALPHABET[int(rng.random() * 32)] for _ in range(20))
    rec: dict = {"id": rid, "created_at": _iso_ms(ts), "user_id": uid, "model": model}

    # service tier: flex / priority / batch where the model has its own price for it; absent means `default`
    service_tier = "default"
    tiers = catalog.service_tiers(model, at.date())
    if tiers:
        draw = rng.random()
        for name, below in SERVICE_TIERS:
            if draw < below:
                if name in tiers:
                    service_tier = name
                break
    if service_tier != "default":
        rec["service_tier"] = service_tier
    streamed = service_tier != "batch" and rng.random() < 0.7

    prompt, visible = trace[int(rng.random() * len(trace))]
    threshold = catalog.long_context_threshold(model, at.date(), service_tier)
    if threshold is not None and rng.random() < LONG_CONTEXT_RATE:
        # a document-sized prompt past the long-context tier: a long trace prompt scaled onto the threshold
        tail_prompt, visible = long_trace[int(rng.random() * len(long_trace))]
        prompt = threshold + tail_prompt * (1 + int(rng.random() * 8))

    if rng.random() < FAILURE_RATE:
        rec.update(status_code=_weighted(rng, fail_codes, fail_cum), native_tokens_prompt=prompt,
                   native_tokens_completion=0, streamed=streamed, finish_reason="error",
                   latency=int(50 + rng.random() * 1500), total_cost=0)
        return rec

    cached = creation = creation_1h = reasoning = 0
    if base.cache_read_price is not None and prompt >= 1024 and rng.random() < CACHE_READ_RATE:
        unit = CACHE_UNITS.get(provider, 128)
        cached = max(1024, int(prompt * (0.3 + 0.65 * rng.random())) // unit * unit)
        cached = min(cached, prompt - prompt % unit)
    if (base.cache_write_price is not None and prompt - cached >= 1024
            and rng.random() < CACHE_WRITE_RATE.get(provider, 0.05)):
        creation = 1024 + int(rng.random() * (prompt - cached - 1024 + 1))
        if base.cache_write_1h_price is not None and rng.random() < CACHE_WRITE_1H_RATE:
            creation_1h = creation if rng.random() < 0.5 else 1 + int(rng.random() * creation)
    if model in REASONING_MODELS:
        reasoning = 64 * (1 + int(rng.random() * 60))
    completion = visible + reasoning

    finish = rng.random()
    finish_reason = "stop" if finish < 0.92 else ("tool_calls" if finish < 0.97 else "length")
    per_token_ms = 2.0 if base.tier == "speed" else 18.0
    latency = int((150 + completion * per_token_ms + prompt * 0.05) * (0.7 + 0.6 * rng.random()))
    row = catalog.price_row(model, at, service_tier, prompt)
    cost = provider_cost(row, prompt, completion, cached, creation, creation_1h, reasoning)

    rec.update(status_code=200, native_tokens_prompt=prompt, native_tokens_completion=completion)
    if cached:
        rec["native_tokens_cached"] = cached
    if creation:
        rec["native_tokens_cache_creation"] = creation
    if creation_1h:
        rec["native_tokens_cache_creation_1h"] = creation_1h
    if reasoning:
        rec["native_tokens_reasoning"] = reasoning
    # the gateway reports its cost as a JSON number rounded to 8 decimals
    rec.update(streamed=streamed, finish_reason=finish_reason, latency=latency, total_cost=float(round(cost, 8)))
    return rec


def ensure_sample_data(data_dir: Path, *, days: int = 30, users: int = 300, seed: int = DEFAULT_SEED,
                       end: datetime | None = None, progress: Callable[[str], None] | None = None) -> str:
    """The ``--if-empty`` behaviour: write sample data only when the gateway folder holds no log files
    (and users.csv only when it does not exist). Returns the one-line message describing what it did."""
    data_dir = Path(data_dir)
    listing = scan_drop_zone(gateway_dir(data_dir))
    if listing.files:
        return (f"found {len(listing.files)} gateway log files in {gateway_dir(data_dir)}: "
                "using them as they are")
    if listing.refused or listing.near_misses:  # someone's files, just not loadable: never mix sample data in
        return (f"no loadable gateway log files in {gateway_dir(data_dir)}, but {len(listing.refused)} refused and "
                f"{len(listing.near_misses)} near-miss entries: no sample data written (the run lists them)")
    users_csv = settings.users_csv(data_dir)
    kept = users_csv.exists()
    s = write_sample_data(data_dir, end=end, days=days, users=users, seed=seed, progress=progress,
                          write_users=not kept)
    return (f"wrote sample data: {s['requests']} requests for {s['users']} users over {days} days "
            f"to {data_dir}" + (" (kept the existing users.csv)" if kept else ""))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ingest.sample", description=__doc__.split("\n")[0])
    # Relative to the working directory when $AI_USAGE_DATA_DIR is unset (tests/unit/test_sample.py pins this): the
    # Makefile always sets it, absolute, so `make run` writes where ingest/settings.py's default_data_dir() points.
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get(DATA_DIR_ENV) or "data"),
                   help="data folder (default: $AI_USAGE_DATA_DIR or ./data)")
    p.add_argument("--if-empty", action="store_true",
                   help="write only if <data dir>/raw/gateway has no *.jsonl / *.jsonl.gz files")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = p.parse_args(argv)
    if args.if_empty:
        print(ensure_sample_data(args.data_dir, days=args.days, users=args.users, seed=args.seed,
                                 progress=print))
    else:
        s = write_sample_data(args.data_dir, days=args.days, users=args.users, seed=args.seed, progress=print)
        print(f"wrote sample data: {s['requests']} requests for {s['users']} users over {args.days} days "
              f"to {args.data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
