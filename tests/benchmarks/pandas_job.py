"""The job as a pandas user would write it: land and price the gateway logs with the warehouse's rules, exact money.

    python -m tests.benchmarks.pandas_job DATA_DIR [--out totals.json]

Same method as polars_job.py (lines parsed with json.loads, checks, keep-first dedupe, dated catalog join, trial,
charges), with pandas: money is integer pico-dollars (int64; every catalog price has at most 6 decimals, checked),
the charge of the requests that straddle the end of a trial in Python integers, rounding half to even.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from tests.benchmarks.polars_job import (
    CONTROL,
    FREE_TRIAL_TOKENS,
    INTS,
    MARKUP_DEN,
    MARKUP_NUM,
    MINIMUM,
    MODEL_ID,
    RFC3339,
    SEEDS,
    STRINGS,
    TOKENS,
    _cpu,
    _half_even_int,
    _micro,
    _parse,
    read_lines,
    usd,
)


def frame(lines: list[str]) -> pd.DataFrame:
    records = [_parse(line) for line in lines]
    empty: dict = {}
    columns: dict = {"is_object": np.array([r is not None for r in records])}
    for name in STRINGS:
        raw = [(r or empty).get(name) for r in records]
        columns[name] = pd.Series([v if type(v) is str else None for v in raw], dtype=object)
        columns[f"{name}_bad_type"] = np.array([v is not None and type(v) is not str for v in raw])
    for name in INTS:
        raw = [(r or empty).get(name) for r in records]
        columns[name] = pd.array([v if type(v) is int and -(2**62) < v < 2**62 else None for v in raw], dtype="Int64")
        columns[f"{name}_bad_type"] = np.array(
            [v is not None and not (type(v) is int and -(2**62) < v < 2**62) for v in raw]
        )
    costs = [(r or empty).get("total_cost") for r in records]
    columns["total_cost_bad"] = np.array(
        [v is not None and (type(v) not in (int, float) or not 0 <= v < 1e12) for v in costs]
    )
    return pd.DataFrame(columns)


def land(lines: list[str], now: datetime) -> tuple[pd.DataFrame, dict]:
    df = frame(lines)
    text = df["created_at"]
    shaped = text.str.match(RFC3339).fillna(False).astype(bool)
    df["created_at"] = pd.to_datetime(text.where(shaped), format="ISO8601", utc=True, errors="coerce").dt.tz_convert(
        None
    )
    df["user_id"] = df["user_id"].str.strip()
    tok = {t: df[t].fillna(0) for t in TOKENS}
    bad = ~df["is_object"]
    for name in (*STRINGS, *INTS):
        bad |= df[f"{name}_bad_type"]
    for name in ("id", "user_id", "model", "native_tokens_prompt", "native_tokens_completion", "created_at"):
        bad |= df[name].isna()
    ident, user, model = df["id"].fillna(""), df["user_id"].fillna(""), df["model"].fillna("")
    bad |= df["total_cost_bad"] | (ident.str.strip() == "") | (ident.str.len() > 128) | ident.str.contains(CONTROL)
    bad |= ((df["created_at"] > now) | (df["created_at"] < pd.Timestamp("2000-01-01"))).fillna(True)
    bad |= (user == "") | (user.str.len() > 256) | user.str.contains(CONTROL)
    bad |= (model.str.len() > 200) | model.str.contains(CONTROL) | ~model.str.match(MODEL_ID)
    bad |= ~df["status_code"].fillna(200).between(100, 599).astype(bool)
    for t in TOKENS:
        bad |= ((tok[t] < 0) | (tok[t] > 10_000_000)).astype(bool)
    bad |= (tok["native_tokens_cached"] > tok["native_tokens_prompt"]).astype(bool)
    bad |= (tok["native_tokens_cache_creation"] > tok["native_tokens_prompt"] - tok["native_tokens_cached"]).astype(
        bool
    )
    bad |= (tok["native_tokens_reasoning"] > tok["native_tokens_completion"]).astype(bool)
    bad |= (tok["native_tokens_cache_creation_1h"] > tok["native_tokens_cache_creation"]).astype(bool)
    tier = df["service_tier"]
    bad |= tier.notna() & ~tier.fillna("").str.match(r"^[a-z0-9][a-z0-9_-]{0,31}$")
    bad = bad.astype(bool)
    valid = df[~bad].copy()
    for t in TOKENS:
        valid[t] = valid[t].fillna(0).astype("int64")
    valid["status_code"] = valid["status_code"].fillna(200).astype("int64")
    content = ["created_at", "user_id", "model", "status_code", *TOKENS, "service_tier"]
    valid["content"] = pd.util.hash_pandas_object(valid[content].fillna({"service_tier": "\x00none"}), index=False)
    first = valid.groupby("id", sort=False)["content"].transform("first")
    later = valid.duplicated("id", keep="first")
    counts = {
        "lines_read": len(df),
        "accepted": int((~later).sum()),
        "duplicates": int((later & (valid["content"] == first)).sum()),
        "quarantined": int(bad.sum() + (later & (valid["content"] != first)).sum()),
    }
    requests = valid[~later].rename(columns={"id": "request_id"})
    requests["service_tier"] = requests["service_tier"].fillna("default")
    return requests[["request_id", "created_at", "user_id", "model", "status_code", *TOKENS, "service_tier"]], counts


def catalog() -> tuple[pd.DataFrame, pd.DataFrame]:
    prices = pd.read_csv(SEEDS / "model_prices.csv", dtype=str, keep_default_na=False)
    out = prices[["model", "service_tier", "window_timezone"]].copy()
    for name in ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning"):
        out[f"p_{name}"] = pd.array([_micro(v) for v in prices[f"{name}_price_per_1m_usd"]], dtype="Int64")
    for name in ("window_start", "window_end"):
        out[name] = pd.to_timedelta(prices[name].replace("", None)).dt.total_seconds() * 1e6
    out["input_tokens_above"] = pd.to_numeric(prices["input_tokens_above"].replace("", None)).astype("Int64")
    out["valid_from"] = pd.to_datetime(prices["valid_from"])
    out["valid_to"] = pd.to_datetime(prices["valid_to"].replace("", None))
    aliases = pd.read_csv(SEEDS / "model_aliases.csv", dtype=str, keep_default_na=False)
    aliases = pd.DataFrame(
        {
            "alias": aliases["alias"],
            "alias_model": aliases["model"],
            "alias_from": pd.to_datetime(aliases["valid_from"].replace("", None)),
        }
    )
    return out, aliases


def _half_even(num: pd.Series, den: int) -> pd.Series:
    q, r = num // den, num % den
    return q + ((2 * r > den) | ((2 * r == den) & (q % 2 == 1))).astype("int64")


def price(requests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    prices, aliases = catalog()
    df = requests.merge(aliases, left_on="model", right_on="alias", how="left")
    use_alias = df["alias_model"].notna() & (df["alias_from"].isna() | (df["created_at"] >= df["alias_from"]))
    df["catalog_model"] = df["alias_model"].where(use_alias, df["model"])
    df = df.drop(columns=["alias", "alias_model", "alias_from"])
    df["total_tokens"] = df["native_tokens_prompt"] + df["native_tokens_completion"]
    df["is_billed"] = df["status_code"].between(200, 299)
    cand = df[["request_id", "catalog_model", "created_at", "service_tier", "native_tokens_prompt"]].merge(
        prices, left_on="catalog_model", right_on="model", suffixes=("", "_price")
    )
    local = pd.Series(np.nan, index=cand.index)
    for zone in cand["window_timezone"].unique():
        rows = cand["window_timezone"] == zone
        at = cand.loc[rows, "created_at"].dt.tz_localize("UTC").dt.tz_convert(zone or "UTC").dt.tz_localize(None)
        local[rows] = ((at - at.dt.normalize()).dt.total_seconds() * 1e6).round()
    start, end = cand["window_start"], cand["window_end"]
    in_window = start.isna() | np.where(
        start <= end, (local >= start) & (local < end), (local >= start) | (local < end)
    )
    keep = (
        (cand["created_at"] >= cand["valid_from"])
        & (cand["valid_to"].isna() | (cand["created_at"] < cand["valid_to"]))
        & ((cand["service_tier_price"] == cand["service_tier"]) | (cand["service_tier_price"] == "any"))
        & (cand["input_tokens_above"].isna() | (cand["native_tokens_prompt"] > cand["input_tokens_above"]))
        .fillna(True)
        .astype(bool)
        & in_window
    )
    cand = cand[keep.astype(bool)].copy()
    cand["tier_match"] = cand["service_tier_price"] == cand["service_tier"]
    cand["above"] = cand["input_tokens_above"].fillna(-1)
    best = cand.sort_values(["request_id", "tier_match", "above"], ascending=[True, False, False]).drop_duplicates(
        "request_id"
    )[["request_id", "p_input", "p_output", "p_cache_read", "p_cache_write", "p_cache_write_1h", "p_reasoning"]]
    df = df.merge(best, on="request_id", how="left")
    df["has_price"] = df["p_input"].notna()
    df = df[df["has_price"] | ~df["is_billed"]].copy()
    p_in, p_out = df["p_input"].fillna(0), df["p_output"].fillna(0)
    p_read = df["p_cache_read"].fillna(df["p_input"]).fillna(0)
    p_write = df["p_cache_write"].fillna(df["p_input"]).fillna(0)
    p_1h = df["p_cache_write_1h"].fillna(df["p_cache_write"]).fillna(df["p_input"]).fillna(0)
    p_reason = df["p_reasoning"].fillna(df["p_output"]).fillna(0)
    cached, creation = df["native_tokens_cached"], df["native_tokens_cache_creation"]
    creation_1h, reasoning = df["native_tokens_cache_creation_1h"], df["native_tokens_reasoning"]
    cost = (
        (df["native_tokens_prompt"] - cached - creation) * p_in
        + cached * p_read
        + (creation - creation_1h) * p_write
        + creation_1h * p_1h
        + (df["native_tokens_completion"] - reasoning) * p_out
        + reasoning * p_reason
    )
    df["cost"] = cost.where(df["is_billed"], 0).astype("int64")
    df = df.sort_values(["user_id", "created_at", "request_id"])
    billed_tokens = df["total_tokens"].where(df["is_billed"], 0)
    df["before"] = billed_tokens.groupby(df["user_id"]).cumsum() - billed_tokens
    remaining = (FREE_TRIAL_TOKENS - df["before"]).clip(lower=0)
    df["trial_tokens"] = np.minimum(df["total_tokens"], remaining).where(df["is_billed"], 0)
    covered = df["is_billed"] & (df["before"] < FREE_TRIAL_TOKENS) & (df["total_tokens"] == df["trial_tokens"])
    full = np.maximum(_half_even(df["cost"] * MARKUP_NUM, MARKUP_DEN), MINIMUM)
    df["list_units"] = full.where(df["is_billed"], 0)
    charge = full.where((df["trial_tokens"] == 0) | (df["total_tokens"] == 0), -1)
    charge = charge.where(df["is_billed"] & ~covered, 0)
    split = charge == -1  # straddles the end of the trial: a fraction of the cost, in Python integers
    charge[split] = [
        max(_half_even_int(int(c) * MARKUP_NUM * (int(t) - int(tr)), MARKUP_DEN * int(t)), MINIMUM)
        for c, t, tr in zip(
            df.loc[split, "cost"], df.loc[split, "total_tokens"], df.loc[split, "trial_tokens"], strict=True
        )
    ]
    df["charge_units"] = charge.astype("int64")
    df["date"] = df["created_at"].dt.date
    df["markup_units"] = df["charge_units"] - df["cost"]
    df["trial_credit_units"] = df["list_units"] - df["charge_units"]
    sums = {
        "total_tokens": "sum",
        "trial_tokens": "sum",
        "cost": "sum",
        "charge_units": "sum",
        "markup_units": "sum",
        "trial_credit_units": "sum",
        "is_billed": "sum",
        "request_id": "count",
    }
    user_daily = df.groupby(["user_id", "date"]).agg(sums).reset_index()
    daily = df.groupby("date").agg({**sums, "user_id": "nunique"}).reset_index().sort_values("date")
    return user_daily, daily


def totals(user_daily: pd.DataFrame, daily: pd.DataFrame, counts: dict) -> dict:
    s = {
        c: int(daily[c].sum())
        for c in (
            "request_id",
            "is_billed",
            "total_tokens",
            "trial_tokens",
            "cost",
            "charge_units",
            "markup_units",
            "trial_credit_units",
        )
    }
    return {
        "requests": s["request_id"],
        "billed_requests": s["is_billed"],
        "total_tokens": s["total_tokens"],
        "trial_tokens": s["trial_tokens"],
        "provider_cost_usd": usd(s["cost"]),
        "revenue_usd": usd(s["charge_units"]),
        "profit_usd": usd(s["markup_units"]),
        "trial_credit_usd": usd(s["trial_credit_units"]),
        "user_daily_charge_usd": usd(int(user_daily["charge_units"].sum())),
        "user_daily_trial_tokens": int(user_daily["trial_tokens"].sum()),
        "daily": {
            str(d): [usd(r), usd(c), int(n)]
            for d, r, c, n in daily[["date", "charge_units", "cost", "request_id"]].itertuples(index=False)
        },
        "landing": counts,
    }


def main(argv: list[str] | None = None) -> int:
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
