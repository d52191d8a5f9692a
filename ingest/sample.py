"""Deterministic sample data for the AI usage warehouse (plain Python, no Dagster).

Writes gateway request logs in the gateway-log-v1 format, one gzip JSON Lines file per UTC day
(``<data_dir>/raw/gateway/sample-YYYY-MM-DD.jsonl.gz``), and the users export
(``<data_dir>/raw/users.csv``).

* Models and their prices come from the dbt seed ``dbt_project/seeds/model_prices.csv`` so the two
  never drift apart.
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

from ingest.files import gateway_dir, scan_drop_zone

REPO_ROOT = Path(__file__).resolve().parents[1]
CATALOG_CSV = REPO_ROOT / "dbt_project" / "seeds" / "model_prices.csv"
TRACE_CSV = Path(__file__).resolve().parent / "traces" / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"

DEFAULT_SEED = 20261124
MS_PER_DAY = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32

# Share of requests per model group (the rest of the catalog shares its group's weight equally).
GROUP_SHARES = {
    "gpt-4o-mini": 0.30,  # openai/gpt-4o-mini alone
    "most_users": 0.35,
    "power_users": 0.22,
    "speed": 0.08,
    "azure": 0.05,  # every azure/* model, half of it azure/crowe-logic-assistant
}
ASSISTANT_MODEL = "azure/crowe-logic-assistant"
REASONING_MODELS = {"openai/o1", "openai/o3-mini", "deepseek/deepseek-r1"}
# Providers whose requests may read from the prompt cache, with the cache's token granularity.
CACHE_UNITS = {"openai": 128, "anthropic": 1024, "deepseek": 64, "google": 1024}
FAILURES = [(500, 0.35), (502, 0.15), (429, 0.35), (400, 0.15)]
FAILURE_RATE = 0.015
PLANS = [("free", 0.60), ("pro", 0.30), ("team", 0.10)]
PLAN_ACTIVITY = {"free": 1.0, "pro": 1.6, "team": 2.2}
# Relative request volume per UTC hour (peaks in the European afternoon / US morning).
HOURLY = [0.25, 0.2, 0.18, 0.18, 0.2, 0.28, 0.4, 0.55, 0.75, 0.9, 1.0, 1.0,
          1.0, 1.0, 1.0, 0.98, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
WEEKDAY = [1.0, 1.05, 1.05, 1.0, 0.9, 0.55, 0.5]  # Monday .. Sunday


@dataclass(frozen=True)
class Model:
    id: str
    provider: str
    tier: str
    input_price: float
    output_price: float
    cache_read_price: float | None
    cache_write_price: float | None = None
    reasoning_price: float | None = None

    def cost(self, prompt: int, completion: int, cached: int = 0, creation: int = 0,
             reasoning: int = 0) -> float:
        """What the provider bills, as pricing-rules.md step 3 prices it (a missing cache or reasoning price
        means the input or output price), rounded to 8 decimals like the gateway's total_cost."""
        cache_read = self.input_price if self.cache_read_price is None else self.cache_read_price
        cache_write = self.input_price if self.cache_write_price is None else self.cache_write_price
        reasoning_price = self.output_price if self.reasoning_price is None else self.reasoning_price
        return round(((prompt - cached - creation) * self.input_price + cached * cache_read
                      + creation * cache_write + (completion - reasoning) * self.output_price
                      + reasoning * reasoning_price) / 1e6, 8)


def load_catalog(path: Path = CATALOG_CSV) -> list[Model]:
    """The model catalog (dbt seed) as priced now (rows with no valid_to), in file order."""
    models = []
    today = datetime.now(UTC).date().isoformat()
    seen: set[str] = set()
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            # the catalog (make catalog) is dated and priced in cells: keep each model's standard price in effect
            # today (tier `any`, no long-context tier, its first time-of-day window)
            if row["valid_from"] > today or (row["valid_to"].strip() and row["valid_to"] <= today):
                continue
            if row.get("service_tier", "any") != "any" or row.get("input_tokens_above") or row["model"] in seen:
                continue
            seen.add(row["model"])
            cache_read = row["cache_read_price_per_1m_usd"].strip()
            cache_write = row["cache_write_price_per_1m_usd"].strip()
            reasoning = row["reasoning_price_per_1m_usd"].strip()
            models.append(Model(
                id=row["model"].strip(),
                provider=row["provider"].strip(),
                tier=row["tier"].strip(),
                input_price=float(row["input_price_per_1m_usd"]),
                output_price=float(row["output_price_per_1m_usd"]),
                cache_read_price=float(cache_read) if cache_read else None,
                cache_write_price=float(cache_write) if cache_write else None,
                reasoning_price=float(reasoning) if reasoning else None,
            ))
    if not models:
        raise ValueError(f"empty model catalog: {path}")
    return models


def load_trace(path: Path = TRACE_CSV) -> list[tuple[int, int]]:
    """(ContextTokens, GeneratedTokens) rows of the Azure conversation trace."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.append((int(row["ContextTokens"]), int(row["GeneratedTokens"])))
    return rows


def _model_weights(models: list[Model]) -> list[float]:
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(models):
        if m.id == "openai/gpt-4o-mini":
            key = "gpt-4o-mini"
        elif m.provider == "azure":
            key = "azure"
        else:
            key = m.tier
        groups.setdefault(key, []).append(i)
    weights = [0.0] * len(models)
    for key, idx in groups.items():
        share = GROUP_SHARES.get(key, 0.02)
        if key == "azure" and any(models[i].id == ASSISTANT_MODEL for i in idx):
            others = [i for i in idx if models[i].id != ASSISTANT_MODEL]
            for i in idx:
                if models[i].id == ASSISTANT_MODEL:
                    weights[i] = share / 2 if others else share
                else:
                    weights[i] = share / 2 / len(others)
        else:
            for i in idx:
                weights[i] = share / len(idx)
    return weights


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
    models = load_catalog()
    model_cum = _cumulative(_model_weights(models))
    trace = load_trace()
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
                records.append(_request(rng, ts, uid, models, model_cum, trace, fail_codes, fail_cum))
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

    users_csv = data_dir / "raw" / "users.csv"
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


def _request(rng: Random, ts: int, uid: str, models: list[Model], model_cum: list[float],
             trace: list[tuple[int, int]], fail_codes: list[int], fail_cum: list[float]) -> dict:
    m = _weighted(rng, models, model_cum)
    prompt, visible = trace[int(rng.random() * len(trace))]
    rid = "gen_" + "".join(ID_ALPHABET[int(rng.random() * 32)] for _ in range(20))
    rec: dict = {"id": rid, "created_at": _iso_ms(ts), "user_id": uid, "model": m.id}
    streamed = rng.random() < 0.7

    if rng.random() < FAILURE_RATE:
        rec.update(status_code=_weighted(rng, fail_codes, fail_cum), native_tokens_prompt=prompt,
                   native_tokens_completion=0, streamed=streamed, finish_reason="error",
                   latency=int(50 + rng.random() * 1500), total_cost=0)
        return rec

    cached = creation = reasoning = 0
    unit = CACHE_UNITS.get(m.provider)
    if unit and m.cache_read_price is not None and prompt >= 1024 and rng.random() < 0.35:
        cached = max(1024, int(prompt * (0.3 + 0.65 * rng.random())) // unit * unit)
        cached = min(cached, prompt - prompt % unit)
    if m.provider == "anthropic" and prompt - cached >= 1024 and rng.random() < 0.12:
        creation = 1024 + int(rng.random() * (prompt - cached - 1024 + 1))
    if m.id in REASONING_MODELS:
        reasoning = 64 * (1 + int(rng.random() * 60))
    completion = visible + reasoning

    finish = rng.random()
    finish_reason = "stop" if finish < 0.92 else ("tool_calls" if finish < 0.97 else "length")
    per_token_ms = 2.0 if m.tier == "speed" else 18.0
    latency = int((150 + completion * per_token_ms + prompt * 0.05) * (0.7 + 0.6 * rng.random()))
    cost = m.cost(prompt, completion, cached, creation, reasoning)

    rec.update(status_code=200, native_tokens_prompt=prompt, native_tokens_completion=completion)
    if cached:
        rec["native_tokens_cached"] = cached
    if creation:
        rec["native_tokens_cache_creation"] = creation
    if reasoning:
        rec["native_tokens_reasoning"] = reasoning
    rec.update(streamed=streamed, finish_reason=finish_reason, latency=latency, total_cost=cost)
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
    users_csv = data_dir / "raw" / "users.csv"
    kept = users_csv.exists()
    s = write_sample_data(data_dir, end=end, days=days, users=users, seed=seed, progress=progress,
                          write_users=not kept)
    return (f"wrote sample data: {s['requests']} requests for {s['users']} users over {days} days "
            f"to {data_dir}" + (" (kept the existing users.csv)" if kept else ""))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ingest.sample", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("AI_USAGE_DATA_DIR") or "data"),
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
