"""The job as a polars user would write it: land and price the gateway logs with the warehouse's rules, exact money.

    python -m tests.benchmarks.polars_job DATA_DIR [--out totals.json]

Lines are read in Python and parsed with json.loads (a bad line must not stop the file, and polars' JSON readers
reject a whole file for one bad line); the contract's checks, the keep-first dedupe, the dated catalog join, the
trial and the charges are polars expressions. Money is integer pico-dollars (Int64): a catalog price per 1M tokens
times 1e6 is an integer (every price has at most 6 decimals: checked), so a request's cost in pico-dollars is the
sum of tokens x that integer, exact; the charge of the few requests that straddle the end of a trial (a fraction of
the cost) is computed with Python integers. Rounding is half to even, as pricing-rules.md says.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "dbt_project" / "seeds"
FREE_TRIAL_TOKENS = 100_000
MARKUP_NUM, MARKUP_DEN = 125, 100  # 25% markup
MINIMUM = 1_000_000_000  # $0.001 in pico-dollars
TOKENS = (
    "native_tokens_prompt",
    "native_tokens_completion",
    "native_tokens_cached",
    "native_tokens_cache_creation",
    "native_tokens_reasoning",
    "native_tokens_cache_creation_1h",
)
STRINGS = ("id", "created_at", "user_id", "model", "service_tier")
INTS = ("status_code", *TOKENS)
MODEL_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:@+/-]*$"
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})$"
CONTROL = r"[\x00-\x1f\x7f]"


def read_lines(data_dir: Path) -> list[str]:
    folder = data_dir / "raw" / "gateway"
    files = sorted((p for p in folder.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz"))), key=lambda p: p.name)
    lines: list[str] = []
    for path in files:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            lines += [text for text in (line.strip() for line in handle) if text]
    return lines


def _parse(text: str):
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def frame(lines: list[str]) -> pl.DataFrame:
    records = [_parse(line) for line in lines]
    columns: dict[str, list] = {"is_object": [r is not None for r in records]}
    empty: dict = {}
    for name in STRINGS:
        raw = [(r or empty).get(name) for r in records]
        columns[name] = [v if type(v) is str else None for v in raw]
        columns[f"{name}_bad_type"] = [v is not None and type(v) is not str for v in raw]
    for name in INTS:
        raw = [(r or empty).get(name) for r in records]
        columns[name] = [v if type(v) is int and -(2**62) < v < 2**62 else None for v in raw]
        columns[f"{name}_bad_type"] = [v is not None and not (type(v) is int and -(2**62) < v < 2**62) for v in raw]
    costs = [(r or empty).get("total_cost") for r in records]
    columns["total_cost_bad"] = [v is not None and (type(v) not in (int, float) or not 0 <= v < 1e12) for v in costs]
    return pl.DataFrame(columns).with_row_index("seq")


def land(lines: list[str], now) -> tuple[pl.DataFrame, dict]:
    df = frame(lines)
    ts = (
        pl.col("created_at")
        .str.replace(r"[Zz]$", "+00:00")
        .str.replace(r"^(.{10})[t ]", "${1}T")
        .str.replace(r"^(.{16})([+-])", "${1}:00${2}")
        .str.replace(r"^(.{19})([+-])", "${1}.0${2}")
    )
    df = df.with_columns(
        pl.col("user_id").str.strip_chars(),
        pl.when(pl.col("created_at").str.contains(RFC3339))
        .then(
            ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
        .alias("created_at"),
    )
    bad = ~pl.col("is_object")
    for name in (*STRINGS, *INTS):
        bad = bad | pl.col(f"{name}_bad_type")
    for name in ("id", "user_id", "model", "native_tokens_prompt", "native_tokens_completion"):
        bad = bad | pl.col(name).is_null()
    tok = {t: pl.col(t).fill_null(0) for t in TOKENS}
    bad = (
        bad
        | pl.col("created_at").is_null()
        | pl.col("total_cost_bad")
        | (pl.col("id").str.strip_chars() == "")
        | (pl.col("id").str.len_chars() > 128)
        | pl.col("id").str.contains(CONTROL)
        | (pl.col("created_at") > pl.lit(now))
        | (pl.col("created_at") < pl.datetime(2000, 1, 1))
        | (pl.col("user_id") == "")
        | (pl.col("user_id").str.len_chars() > 256)
        | pl.col("user_id").str.contains(CONTROL)
        | (pl.col("model").str.len_chars() > 200)
        | pl.col("model").str.contains(CONTROL)
        | ~pl.col("model").str.contains(MODEL_ID)
        | ~pl.col("status_code").fill_null(200).is_between(100, 599)
        | pl.any_horizontal([(tok[t] < 0) | (tok[t] > 10_000_000) for t in TOKENS])
        | (tok["native_tokens_cached"] > tok["native_tokens_prompt"])
        | (tok["native_tokens_cache_creation"] > tok["native_tokens_prompt"] - tok["native_tokens_cached"])
        | (tok["native_tokens_reasoning"] > tok["native_tokens_completion"])
        | (tok["native_tokens_cache_creation_1h"] > tok["native_tokens_cache_creation"])
        | (pl.col("service_tier").is_not_null() & ~pl.col("service_tier").str.contains(r"^[a-z0-9][a-z0-9_-]{0,31}$"))
    )
    df = df.with_columns(bad.fill_null(True).alias("bad"))
    valid = df.filter(~pl.col("bad")).with_columns(
        pl.struct("created_at", "user_id", "model", pl.col("status_code").fill_null(200), *tok.values(), "service_tier")
        .hash()
        .alias("content")
    )
    valid = valid.with_columns(
        pl.int_range(pl.len()).over("id").alias("occurrence"),
        pl.col("content").first().over("id").alias("first_content"),
    )
    counts = {
        "lines_read": df.height,
        "accepted": valid.filter(pl.col("occurrence") == 0).height,
        "duplicates": valid.filter((pl.col("occurrence") > 0) & (pl.col("content") == pl.col("first_content"))).height,
        "quarantined": df.filter(pl.col("bad")).height
        + valid.filter((pl.col("occurrence") > 0) & (pl.col("content") != pl.col("first_content"))).height,
    }
    requests = valid.filter(pl.col("occurrence") == 0).select(
        pl.col("id").alias("request_id"),
        "created_at",
        "user_id",
        "model",
        pl.col("status_code").fill_null(200),
        *[tok[t].alias(t) for t in TOKENS],
        pl.col("service_tier").fill_null("default"),
    )
    return requests, counts


def _micro(cell: str | None) -> int | None:
    """A price per 1M tokens in USD -> micro-dollars per 1M tokens = pico-dollars per token (exact)."""
    if cell is None or cell == "":
        return None
    value = Decimal(cell) * 1_000_000
    if value != value.to_integral_value():
        raise ValueError(f"price {cell} has more than 6 decimals: this script's integer money needs <= 6")
    return int(value)


def catalog() -> tuple[pl.DataFrame, pl.DataFrame]:
    prices = pl.read_csv(SEEDS / "model_prices.csv", infer_schema=False)
    cols = {
        name: [_micro(v) for v in prices[f"{name}_price_per_1m_usd"].to_list()]
        for name in ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning")
    }
    prices = prices.select(
        "model",
        "service_tier",
        "window_timezone",
        pl.col("window_start").str.to_time("%H:%M:%S", strict=False),
        pl.col("window_end").str.to_time("%H:%M:%S", strict=False),
        pl.col("input_tokens_above").cast(pl.Int64, strict=False),
        pl.col("valid_from").str.to_date(),
        pl.col("valid_to").str.to_date(strict=False),
    ).with_columns(*[pl.Series(f"p_{k}", v, dtype=pl.Int64) for k, v in cols.items()])
    aliases = pl.read_csv(SEEDS / "model_aliases.csv", infer_schema=False).select(
        "alias", pl.col("model").alias("alias_model"), pl.col("valid_from").str.to_date(strict=False)
    )
    return prices, aliases


def _half_even(num: pl.Expr, den: int) -> pl.Expr:
    q, r = num // den, num % den
    return q + pl.when((2 * r > den) | ((2 * r == den) & (q % 2 == 1))).then(1).otherwise(0)


def _half_even_int(num: int, den: int) -> int:
    q, r = divmod(num, den)
    return q + (1 if 2 * r > den or (2 * r == den and q % 2 == 1) else 0)


def price(requests: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    prices, aliases = catalog()
    df = (
        requests.join(aliases, left_on="model", right_on="alias", how="left")
        .with_columns(
            pl.when(
                pl.col("alias_model").is_not_null()
                & (pl.col("valid_from").is_null() | (pl.col("created_at") >= pl.col("valid_from").cast(pl.Datetime)))
            )
            .then(pl.col("alias_model"))
            .otherwise(pl.col("model"))
            .alias("catalog_model"),
            (pl.col("native_tokens_prompt") + pl.col("native_tokens_completion")).alias("total_tokens"),
            pl.col("status_code").is_between(200, 299).alias("is_billed"),
        )
        .drop("alias_model", "valid_from")
    )
    keys = df.select("request_id", "catalog_model", "created_at", "service_tier", "native_tokens_prompt")
    cand = keys.join(prices, left_on="catalog_model", right_on="model", how="inner", suffix="_price")
    day_us = pl.col("created_at").dt.time().cast(pl.Int64)  # nanoseconds since midnight, UTC
    local = day_us
    for zone in [z for z in prices["window_timezone"].unique().to_list() if z and z != "UTC"]:
        local = (
            pl.when(pl.col("window_timezone") == zone)
            .then(pl.col("created_at").dt.replace_time_zone("UTC").dt.convert_time_zone(zone).dt.time().cast(pl.Int64))
            .otherwise(local)
        )
    start, end = pl.col("window_start").cast(pl.Int64), pl.col("window_end").cast(pl.Int64)
    in_window = pl.col("window_start").is_null() | pl.when(start <= end).then(
        (local >= start) & (local < end)
    ).otherwise((local >= start) | (local < end))
    cand = cand.filter(
        (pl.col("created_at") >= pl.col("valid_from").cast(pl.Datetime))
        & (pl.col("valid_to").is_null() | (pl.col("created_at") < pl.col("valid_to").cast(pl.Datetime)))
        & ((pl.col("service_tier_price") == pl.col("service_tier")) | (pl.col("service_tier_price") == "any"))
        & (pl.col("input_tokens_above").is_null() | (pl.col("native_tokens_prompt") > pl.col("input_tokens_above")))
        & in_window
    ).with_columns(
        (pl.col("service_tier_price") == pl.col("service_tier")).alias("tier_match"),
        pl.col("input_tokens_above").fill_null(-1).alias("above"),
    )
    best = (
        cand.sort(["request_id", "tier_match", "above"], descending=[False, True, True])
        .unique("request_id", keep="first")
        .select("request_id", "p_input", "p_output", "p_cache_read", "p_cache_write", "p_cache_write_1h", "p_reasoning")
    )
    df = df.join(best, on="request_id", how="left")
    p_read = pl.coalesce("p_cache_read", "p_input")
    p_write = pl.coalesce("p_cache_write", "p_input")
    p_1h = pl.coalesce("p_cache_write_1h", "p_cache_write", "p_input")
    p_reason = pl.coalesce("p_reasoning", "p_output")
    cached, creation = pl.col("native_tokens_cached"), pl.col("native_tokens_cache_creation")
    creation_1h, reasoning = pl.col("native_tokens_cache_creation_1h"), pl.col("native_tokens_reasoning")
    cost = (
        (pl.col("native_tokens_prompt") - cached - creation) * pl.col("p_input")
        + cached * p_read
        + (creation - creation_1h) * p_write
        + creation_1h * p_1h
        + (pl.col("native_tokens_completion") - reasoning) * pl.col("p_output")
        + reasoning * p_reason
    )
    df = (
        df.with_columns(pl.col("p_input").is_not_null().alias("has_price"))
        .filter(pl.col("has_price") | ~pl.col("is_billed"))
        .with_columns(pl.when(pl.col("is_billed")).then(cost).otherwise(0).alias("cost"))
        .sort(["user_id", "created_at", "request_id"])
    )
    billed_tokens = pl.when(pl.col("is_billed")).then(pl.col("total_tokens")).otherwise(0)
    df = df.with_columns((billed_tokens.cum_sum().over("user_id") - billed_tokens).alias("before"))
    df = df.with_columns(
        pl.when(pl.col("is_billed"))
        .then(pl.min_horizontal(pl.col("total_tokens"), pl.max_horizontal(0, FREE_TRIAL_TOKENS - pl.col("before"))))
        .otherwise(0)
        .alias("trial_tokens")
    )
    covered = (
        pl.col("is_billed")
        & (pl.col("before") < FREE_TRIAL_TOKENS)
        & (pl.col("total_tokens") - pl.col("trial_tokens") == 0)
    )
    marked = pl.col("cost") * MARKUP_NUM
    df = df.with_columns(
        pl.when(pl.col("is_billed"))
        .then(pl.max_horizontal(_half_even(marked, MARKUP_DEN), MINIMUM))
        .otherwise(0)
        .alias("list_units"),
        pl.when(~pl.col("is_billed") | covered)
        .then(0)
        .when((pl.col("trial_tokens") == 0) | (pl.col("total_tokens") == 0))
        .then(pl.max_horizontal(_half_even(marked, MARKUP_DEN), MINIMUM))
        .otherwise(None)
        .alias("charge_units"),
    )
    # the requests that straddle the end of a user's trial: a fraction of the cost, in Python integers
    split = df.filter(pl.col("charge_units").is_null()).select("request_id", "cost", "total_tokens", "trial_tokens")
    fixed = pl.DataFrame(
        {
            "request_id": split["request_id"],
            "split_units": [
                max(_half_even_int(c * MARKUP_NUM * (t - tr), MARKUP_DEN * t), MINIMUM)
                for c, t, tr in split.select("cost", "total_tokens", "trial_tokens").iter_rows()
            ],
        },
        schema={"request_id": pl.String, "split_units": pl.Int64},
    )
    df = df.join(fixed, on="request_id", how="left").with_columns(
        pl.coalesce("charge_units", "split_units").alias("charge_units"), pl.col("created_at").dt.date().alias("date")
    )
    user_daily = df.group_by("user_id", "date").agg(
        pl.len().alias("requests"),
        pl.col("is_billed").sum().alias("billed_requests"),
        pl.col("total_tokens").sum(),
        pl.col("trial_tokens").sum(),
        pl.col("cost").sum(),
        pl.col("charge_units").sum(),
        (pl.col("charge_units") - pl.col("cost")).sum().alias("markup_units"),
        (pl.col("list_units") - pl.col("charge_units")).sum().alias("trial_credit_units"),
    )
    daily = (
        df.group_by("date")
        .agg(
            pl.len().alias("requests"),
            pl.col("is_billed").sum().alias("billed_requests"),
            pl.col("total_tokens").sum(),
            pl.col("trial_tokens").sum(),
            pl.col("cost").sum(),
            pl.col("charge_units").sum().alias("revenue_units"),
            (pl.col("charge_units") - pl.col("cost")).sum().alias("profit_units"),
            (pl.col("list_units") - pl.col("charge_units")).sum().alias("trial_credit_units"),
            pl.col("user_id").n_unique().alias("active_users"),
        )
        .sort("date")
    )
    return user_daily, daily


def usd(units: int) -> str:
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(int(units)), 10**12)
    return f"{sign}{whole}.{frac:012d}"


def totals(user_daily: pl.DataFrame, daily: pl.DataFrame, counts: dict) -> dict:
    s = {
        c: int(daily[c].sum())
        for c in (
            "requests",
            "billed_requests",
            "total_tokens",
            "trial_tokens",
            "cost",
            "revenue_units",
            "profit_units",
            "trial_credit_units",
        )
    }
    return {
        "requests": s["requests"],
        "billed_requests": s["billed_requests"],
        "total_tokens": s["total_tokens"],
        "trial_tokens": s["trial_tokens"],
        "provider_cost_usd": usd(s["cost"]),
        "revenue_usd": usd(s["revenue_units"]),
        "profit_usd": usd(s["profit_units"]),
        "trial_credit_usd": usd(s["trial_credit_units"]),
        "user_daily_charge_usd": usd(int(user_daily["charge_units"].sum())),
        "user_daily_trial_tokens": int(user_daily["trial_tokens"].sum()),
        "daily": {
            str(d): [usd(r), usd(c), int(n)]
            for d, r, c, n in daily.select("date", "revenue_units", "cost", "requests").iter_rows()
        },
        "landing": counts,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    from datetime import datetime, timedelta, timezone

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    now = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=5)
    cpu, wall = _cpu(), time.perf_counter()
    requests, counts = land(read_lines(args.data_dir), now)
    landing = {"cpu": _cpu() - cpu, "wall": time.perf_counter() - wall}
    cpu, wall = _cpu(), time.perf_counter()
    user_daily, daily = price(requests)
    pricing = {"cpu": _cpu() - cpu, "wall": time.perf_counter() - wall}
    text = json.dumps(
        {"totals": totals(user_daily, daily, counts), "phases": {"landing": landing, "pricing": pricing}}, indent=1
    )
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
