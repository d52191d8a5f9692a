"""Benchmark data in the gateway-log-v1 format, fast (numpy), deterministic by seed, cached by size and seed.

    python -m tests.benchmarks.generate --requests 1000000 [--seed 7] [--out DIR]

Writes ``<dir>/history/raw/gateway/gateway-YYYY-MM-DD.jsonl`` (one file per UTC day over 30 days; every tenth day
as ``.jsonl.gz``), ``<dir>/history/raw/users.csv`` and ``<dir>/extra/gateway-YYYY-MM-DD.jsonl``: one more day (about
1/30 of the requests) kept aside for the increment step. The days are fixed (2026-10-01 .. 2026-10-30, the extra
day 2026-10-31), so that the same seed gives byte-identical files on any day, and they straddle the catalog's dated
changes of 2026-10-12 and 2026-10-14 (new prices, batch prices from that day).

What is in it: the models of ``ingest.sample.ROSTER`` with their shares, plus a few names the catalog knows only as
aliases; service tiers flex / priority / batch where the model has a price of its own, the unpriced tier ``scale``
and an explicit ``default``; prompts past the long-context thresholds; DeepSeek's time-of-day windows (by the
diurnal pattern); cache reads, cache writes (some for one hour) and reasoning tokens; non-2xx statuses; user ids with
surrounding spaces. Then about 0.1% hostile lines (not JSON, missing fields, wrong types, negative tokens, bad
timestamps, bad model ids, unknown models that land but have no price) and about 0.5% duplicates (exact repeats and
repeats of an id with other content), placed at random lines of the same or the next day's file.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from ingest.catalog import ALIASES_CSV, PRICES_CSV
from ingest.sample import (
    CACHE_UNITS,
    HOURLY,
    ID_ALPHABET,
    REASONING_MODELS,
    ROSTER,
    SERVICE_TIERS,
    WEEKDAY,
    load_catalog,
    load_trace,
)

VERSION = "1"  # bump when the output for a given size and seed changes
FIRST_DAY = date(2026, 10, 1)
DAYS = 30
EXTRA_DAY = FIRST_DAY + timedelta(days=DAYS)
GZ_EVERY = 10  # days 5, 15, 25 are .jsonl.gz
HOSTILE_RATE = 0.001
DUPLICATE_RATE = 0.005
CONFLICT_SHARE = 0.25  # of duplicates: same id, other content
ALIAS_NAMES = (("anthropic/claude-opus-5-latest", 0.004), ("cohere/command-a-03-2025", 0.003))
FAILURES = ((500, 0.35), (502, 0.15), (429, 0.35), (400, 0.15))
FAILURE_RATE = 0.015
PADDED_USER_RATE = 0.001  # "usr_000042 ": the same user once stripped
MS_PER_DAY = 86_400_000


def default_dir(requests: int, seed: int) -> Path:
    """Where the data of this size and seed is cached (``$TMPDIR/ai-usage-bench/<N>-<seed>``), keyed also by the
    generator's version and the catalog seeds it samples from."""
    digest = hashlib.sha256(PRICES_CSV.read_bytes() + ALIASES_CSV.read_bytes() + VERSION.encode()).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / "ai-usage-bench" / f"{requests}-{seed}-{digest}"


def ensure_data(requests: int, seed: int = 7, out: Path | None = None, progress=print) -> Path:
    """The cached data directory, generated first if missing."""
    out = out or default_dir(requests, seed)
    if (out / "done.json").exists():
        _date_files(out)
        return out
    started = time.perf_counter()
    summary = generate(requests, seed, out)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "done.json").write_text(json.dumps(summary, indent=1))
    _date_files(out)
    progress(f"generated {summary['lines']:,} lines ({requests:,} requests) in {summary['seconds']} s: {out}")
    return out


def _date_files(out: Path) -> None:
    """Each day's file last written in the last second of its day, as a gateway that writes a file per UTC day does:
    `make run` and the sensor take the days a new file touches from its first line to its last write (a file written
    today would widen "one more day" to every day since)."""
    for path in out.glob("*/**/gateway-*.jsonl*"):
        day = date.fromisoformat(path.name.removeprefix("gateway-")[:10])
        written = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=23, minutes=59, seconds=59)
        os.utime(path, (written.timestamp(), written.timestamp()))


class _Models:
    """Per (model, day): the catalog facts the generator needs, as numpy lookup tables."""

    def __init__(self, names: list[str], days: list[date]):
        catalog = load_catalog()
        tiers = ["default", "flex", "priority", "batch", "scale"]
        self.tiers = tiers
        shape = (len(names), len(days))
        self.has_cache_read = np.zeros(shape, bool)
        self.has_cache_write = np.zeros(shape, bool)
        self.has_cache_1h = np.zeros(shape, bool)
        self.tier_ok = np.zeros((*shape, len(tiers)), bool)
        self.threshold = np.full((*shape, len(tiers)), -1, np.int64)
        for m, name in enumerate(names):
            for d, day in enumerate(days):
                base = catalog.price_row(name, datetime(day.year, day.month, day.day, tzinfo=UTC))
                if base is None:
                    raise ValueError(f"{name} has no catalog price on {day}: update the benchmark's models")
                self.has_cache_read[m, d] = base.cache_read_price is not None
                self.has_cache_write[m, d] = base.cache_write_price is not None
                self.has_cache_1h[m, d] = base.cache_write_1h_price is not None
                own = catalog.service_tiers(name, day)
                for t, tier in enumerate(tiers):
                    self.tier_ok[m, d, t] = tier in own
                    limit = catalog.long_context_threshold(name, day, tier)
                    self.threshold[m, d, t] = -1 if limit is None else limit


def generate(requests: int, seed: int, out: Path) -> dict:
    rng = np.random.default_rng(seed)
    names = [m for group in ROSTER.values() for m, _ in group] + [m for m, _ in ALIAS_NAMES]
    shares = np.array([s for group in ROSTER.values() for _, s in group] + [s for _, s in ALIAS_NAMES])
    shares /= shares.sum()
    provider = np.array([n.split("/")[0] for n in names])
    reasoning_model = np.array([n in REASONING_MODELS for n in names])
    cache_unit = np.array([CACHE_UNITS.get(p, 128) for p in provider])
    write_rate = np.where(provider == "anthropic", 0.12, 0.05)
    days = [FIRST_DAY + timedelta(days=d) for d in range(DAYS + 1)]
    facts = _Models(names, days)
    trace = np.array(load_trace(), dtype=np.int64)
    long_trace = trace[trace[:, 0] >= np.quantile(trace[:, 0], 0.95)]

    users = max(20, requests // 66)
    weight = np.minimum(rng.pareto(1.25, users) + 1, 150.0) * rng.choice([1.0, 1.6, 2.2], users, p=[0.6, 0.3, 0.1])
    weight *= np.where(rng.random(users) < 0.12, 0.05, 1.0)
    weight /= weight.sum()
    user_ids = np.array([f"usr_{n:06d}" for n in range(1, users + 1)])

    day_weight = np.array([WEEKDAY[day.weekday()] for day in days[:DAYS]])
    per_day = rng.multinomial(requests, day_weight / day_weight.sum())
    per_day = np.append(per_day, max(1, requests // DAYS))  # the extra day
    hour_p = np.array(HOURLY) / sum(HOURLY)

    history = out / "history" / "raw" / "gateway"
    extra = out / "extra"
    for folder in (history, extra):
        folder.mkdir(parents=True, exist_ok=True)
    lines_total, previous = 0, []
    alphabet = np.array(list(ID_ALPHABET))
    for d, day in enumerate(days):
        n = int(per_day[d])
        day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        ts = day_ms + rng.choice(24, n, p=hour_p) * 3_600_000 + rng.integers(0, 3_600_000, n)
        ids = np.char.add("gen_", alphabet[rng.integers(0, 32, (n, 20))].view("<U20").ravel())
        user = rng.choice(users, n, p=weight)
        model = rng.choice(len(names), n, p=shares)
        draw = rng.random(n)
        tier = np.zeros(n, np.int64)  # default
        for t, (_name, below) in enumerate(SERVICE_TIERS, start=1):
            lower = SERVICE_TIERS[t - 2][1] if t > 1 else 0.0
            tier = np.where((draw >= lower) & (draw < below) & facts.tier_ok[model, d, t], t, tier)
        tier = np.where(rng.random(n) < 0.002, 4, tier)  # `scale`: no price of its own, priced as standard
        explicit_default = (tier == 0) & (rng.random(n) < 0.005)
        pick = rng.integers(0, len(trace), n)
        prompt, visible = trace[pick, 0].copy(), trace[pick, 1].copy()
        threshold = facts.threshold[model, d, tier]
        long = (threshold >= 0) & (rng.random(n) < 0.005)
        tail = long_trace[rng.integers(0, len(long_trace), n)]
        prompt = np.where(long, threshold + tail[:, 0] * rng.integers(1, 9, n), prompt)
        visible = np.where(long, tail[:, 1], visible)
        failed = rng.random(n) < FAILURE_RATE
        status = np.where(failed, rng.choice([c for c, _ in FAILURES], n, p=[w for _, w in FAILURES]), 200)

        unit = cache_unit[model]
        read = facts.has_cache_read[model, d] & (prompt >= 1024) & (rng.random(n) < 0.35) & ~failed
        cached = np.maximum(1024, (prompt * (0.3 + 0.65 * rng.random(n))).astype(np.int64) // unit * unit)
        cached = np.where(read, np.minimum(cached, prompt - prompt % unit), 0)
        write = facts.has_cache_write[model, d] & (prompt - cached >= 1024) & (rng.random(n) < write_rate[model])
        write &= ~failed
        creation = np.where(write, 1024 + (rng.random(n) * (prompt - cached - 1024 + 1)).astype(np.int64), 0)
        hour = write & facts.has_cache_1h[model, d] & (rng.random(n) < 0.35)
        part = 1 + (rng.random(n) * creation).astype(np.int64)
        creation_1h = np.where(hour, np.where(rng.random(n) < 0.5, creation, np.minimum(part, creation)), 0)
        reasoning = np.where(reasoning_model[model] & ~failed, 64 * rng.integers(1, 61, n), 0)
        completion = np.where(failed, 0, visible + reasoning)
        padded = rng.random(n) < PADDED_USER_RATE

        order = np.lexsort((ids, ts))
        lines = [
            _line(*row) for row in zip(
                ids[order].tolist(), ts[order].tolist(), user_ids[user[order]].tolist(), padded[order].tolist(),
                np.array(names)[model[order]].tolist(), status[order].tolist(), prompt[order].tolist(),
                completion[order].tolist(), cached[order].tolist(), creation[order].tolist(),
                creation_1h[order].tolist(), reasoning[order].tolist(), tier[order].tolist(),
                explicit_default[order].tolist(), strict=True)
        ]
        lines = _add_noise(rng, lines, previous, day)
        previous = lines
        body = "".join(lines).encode()
        lines_total += len(lines) if d < DAYS else 0
        if d == DAYS:
            (extra / f"gateway-{day}.jsonl").write_bytes(body)
        elif d % GZ_EVERY == 4:
            (history / f"gateway-{day}.jsonl.gz").write_bytes(gzip.compress(body, compresslevel=1, mtime=0))
        else:
            (history / f"gateway-{day}.jsonl").write_bytes(body)

    with open(out / "history" / "raw" / "users.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "email", "created_at", "plan"])
        first = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC) - timedelta(days=120)
        offsets = rng.integers(0, 150 * 86_400, users)
        plans = rng.choice(["free", "pro", "team"], users, p=[0.6, 0.3, 0.1])
        for n, (uid, offset, plan) in enumerate(zip(user_ids.tolist(), offsets.tolist(), plans.tolist(),
                                                     strict=True), start=1):
            writer.writerow([uid, f"user{n:06d}@example.com", f"{first + timedelta(seconds=offset):%Y-%m-%dT%H:%M:%SZ}",
                             plan])
    return {"requests": requests, "seed": seed, "version": VERSION, "users": users, "lines": lines_total,
            "extra_day": str(EXTRA_DAY), "extra_lines": len(previous)}


TIERS = (None, "flex", "priority", "batch", "scale")


def _iso(ms: int) -> str:
    seconds, milli = divmod(ms, 1000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{milli:03d}Z"


def _line(rid, ms, uid, padded, model, status, prompt, completion, cached, creation, creation_1h, reasoning, tier,
          explicit_default) -> str:
    parts = [f'{{"id":"{rid}","created_at":"{_iso(ms)}","user_id":"{uid}{" " if padded else ""}","model":"{model}"',
             f',"status_code":{status},"native_tokens_prompt":{prompt},"native_tokens_completion":{completion}']
    if cached:
        parts.append(f',"native_tokens_cached":{cached}')
    if creation:
        parts.append(f',"native_tokens_cache_creation":{creation}')
    if creation_1h:
        parts.append(f',"native_tokens_cache_creation_1h":{creation_1h}')
    if reasoning:
        parts.append(f',"native_tokens_reasoning":{reasoning}')
    if tier:
        parts.append(f',"service_tier":"{TIERS[tier]}"')
    elif explicit_default:
        parts.append(',"service_tier":"default"')
    parts.append(f',"streamed":{"true" if status == 200 else "false"},"finish_reason":"stop"}}\n')
    return "".join(parts)


def _hostile(kind: int, n: int, day: date) -> str:
    rid = f"bad_{day:%Y%m%d}_{n:07d}"
    at = f"{day}T12:00:00.000Z"
    good = (f'"id":"{rid}","created_at":"{at}","user_id":"usr_000001","model":"openai/gpt-6-luna",'
            '"native_tokens_prompt":100,"native_tokens_completion":10')
    return [
        f'{{"id":"{rid}","created_at":"{at}","user_id":"usr_0\n',  # cut short: not JSON
        '{"id":"' + rid + '","created_at":"' + at + '","model":"openai/gpt-6-luna","native_tokens_prompt":1,'
        '"native_tokens_completion":1}\n',  # missing user_id
        '{' + good.replace('"native_tokens_prompt":100', '"native_tokens_prompt":"100"') + '}\n',  # wrong type
        '{' + good.replace('"native_tokens_completion":10', '"native_tokens_completion":-10') + '}\n',  # negative
        '{' + good.replace(at, f"{day}T25:61:00Z") + '}\n',  # bad timestamp
        '{' + good.replace(at, f"{day}T12:00:00") + '}\n',  # no UTC offset
        '{' + good.replace("openai/gpt-6-luna", "gpt-6-luna") + '}\n',  # not provider/model
        '{' + good.replace("openai/gpt-6-luna", "acme/unknown-model-9") + '}\n',  # lands, but has no price
        '{' + good.replace('"native_tokens_completion":10', '"native_tokens_completion":10.5') + '}\n',  # float
        '["not", "an", "object"]\n',
    ][kind % 10]


def _add_noise(rng: np.random.Generator, lines: list[str], previous: list[str], day: date) -> list[str]:
    """Hostile lines and duplicates (exact and conflicting) at random positions of the day's lines."""
    n = len(lines)
    extra: list[str] = []
    for k in range(max(1, round(n * HOSTILE_RATE))):
        extra.append(_hostile(k + day.toordinal(), k, day))
    pool = lines + [line for line in previous if line.startswith('{"id":"gen_')]
    for k, pick in enumerate(rng.integers(0, len(pool), max(2, round(n * DUPLICATE_RATE))).tolist()):
        line = pool[pick]
        if not line.startswith('{"id":"gen_'):
            continue
        if k % round(1 / CONFLICT_SHARE) == 0:  # the same id with other content: a later prompt count + 7
            head, _, rest = line.partition('"native_tokens_prompt":')
            count, _, tail = rest.partition(",")
            line = f'{head}"native_tokens_prompt":{int(count) + 7},{tail}'
        extra.append(line)
    positions = rng.integers(0, n + 1, len(extra))
    out = list(lines)
    for position, line in sorted(zip(positions.tolist(), extra, strict=True), key=lambda item: -item[0]):
        out.insert(position, line)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    print(ensure_data(args.requests, args.seed, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

